"""Exports (issue 14): orders, activities and sign-ups, hours by month, a book's statement, and any
table registered in tables.py, as CSV or XLSX, made by the worker and downloaded at /jobs/{id}/result;
every export recorded in export_records."""
