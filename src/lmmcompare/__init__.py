"""lmmcompare: the comparison harness around exactlmm.

The tool registry, the runners that put every LMM tool (ours and the peers) on identical inputs,
the parameter conversions to one standard form, concordance/truth/tolerance tables, plots, the
simulator (``lmmcompare simulate``, :mod:`lmmcompare.cli`) and the benchmark readers.  This
package imports ``exactlmm``; ``exactlmm`` never imports this one (``tests/test_core_lean.py``).
pandas and matplotlib (the ``workflow`` extra) are imported only by the modules that need
them.
"""

__version__ = "0.2.0"
