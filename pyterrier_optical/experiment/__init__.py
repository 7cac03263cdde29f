"""Layer 6: experiments — comparisons across languages (:mod:`.compare`) with their statistics (:mod:`.stats`) and
saved runs (:mod:`.saved_runs`), reports (:mod:`.report`) and the embedded demo (:mod:`.demo`, its options in
:mod:`.demo_options`)."""
from .compare import Comparison, code_switch_sweep, compare, significance_table

__all__ = ["Comparison", "code_switch_sweep", "compare", "significance_table"]
