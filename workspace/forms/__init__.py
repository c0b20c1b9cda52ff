"""Public forms: their definitions, public intake without duplicates, stored submissions,
files sent with a form and self-service edit links."""
