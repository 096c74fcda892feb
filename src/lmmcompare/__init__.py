"""lmmcompare: the comparison harness around exactlmm.

The tool registry, the runners that put every LMM tool (ours and the peers) on identical inputs,
the parameter conversions to one standard form, concordance/truth/tolerance tables, plots, the
simulator and the benchmark readers.  ``exactlmm`` never imports this package; this package
imports ``exactlmm``.  pandas and matplotlib (the ``workflow`` extra) are imported only by the
modules that need them.
"""

__version__ = "0.2.0"
