"""vulnfusion: function-level C vulnerability detection with a Transformer + GNN late fusion."""

__version__ = "0.1.0"
