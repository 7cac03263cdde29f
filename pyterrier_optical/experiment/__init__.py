"""Layer 5: experiments — significance tests across languages, fusion, reports and the embedded demo."""
from .compare import Comparison, code_switch_sweep, compare, significance_table

__all__ = ["Comparison", "code_switch_sweep", "compare", "significance_table"]
