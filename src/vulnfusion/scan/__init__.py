"""Scan a C tree with the registered model (issue 15): walk, extract, score, report.

``walk`` finds the files, ``extract`` the functions (tree-sitter), ``model`` loads the served
pyfunc, ``engine`` runs the scan, ``sarif`` / ``formats`` / ``baseline`` write the reports,
``localize`` is the hook for line-level localisation. No CLI code here: the ``vulnfusion scan``
command is ``vulnfusion.console.scan``.
"""
