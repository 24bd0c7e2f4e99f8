"""``translator eval``: replay a talk through the real service and measure lag and quality per language."""
