"""Services hold the rules. Every entry path (API, UI, forms, imports, connectors,
automations) calls these functions, so a rule holds everywhere or nowhere."""
