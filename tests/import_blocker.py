"""Python source that, run first in a subprocess, makes importing pandas, matplotlib or snakemake
fail: the tests that prove a code path does not need them prepend it to their script."""

BLOCKED = ("pandas", "matplotlib", "snakemake")

SOURCE = f'''
import importlib.abc
import sys

BLOCKED = {BLOCKED!r}


class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(name + " is blocked in this test")
        return None


sys.meta_path.insert(0, Block())
'''
