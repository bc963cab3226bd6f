//! Report files of a run (CSV, XLSX, JSON, HTML with a chart) and the mail content built from them.
