"""Built-in plugins. They register through the same hooks and entry points a third party uses."""
