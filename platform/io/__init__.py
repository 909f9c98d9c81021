"""Excel and CSV: import templates, imports (python-calamine) and exports (openpyxl)."""
