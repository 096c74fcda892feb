"""The panel of one workflow config: the one list of tools every rule, table and plot reads.

The registry (:mod:`lmmcompare.registry`) holds the tools the harness ships runners for.  A
config adds two kinds of its own, each a :class:`lmmcompare.registry.Tool` as well:

* ``config`` — a tool defined by a command template in the config's ``tools:``
  (:mod:`lmmcompare.config_tools`): run by the ``assoc`` rule through the runner skeleton like
  any registry tool;
* ``imported`` — results made elsewhere (``datasets.<name>.results``, ``study.imported``;
  :mod:`lmmcompare.imported`): not run here, their tables are put on our SNPs by the
  ``import_results`` rule.

:func:`of` builds the :class:`Panel` of a config — the registry's entries, then the config's
tools, then the imported ones, every name once — and it is used wherever a list of tools is:
the runs table, the wildcards, the config checks (skip lists, tolerances), the concordance
pairs and kinds, the plots' statistics.  :data:`REGISTRY` is the panel of a config that adds
no tool (what a test without a config uses).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from exactlmm.errors import InputError
from lmmcompare import registry
from lmmcompare.registry import Tool

ORIGINS = ("registry", "config", "imported")
"""Where a tool of the panel comes from (module docstring)."""

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
"""What a config-defined or imported tool may be called: a wildcard value and a file stem
(``{tool}.{mode}.assoc.tsv``), so no dot and no dash."""


def origin_of(tool: Tool) -> str:
    """``registry``, ``config`` or ``imported`` (a tool class of this package says which)."""
    return getattr(tool, "origin", "registry")


class Panel(Mapping[str, Tool]):
    """Tools by name, in order: the registry's, then the config's, then the imported ones.

    Besides the mapping, the questions the workflow asks of a list of tools (each the
    registry module's function of the same name, over this panel)."""

    def __init__(self, tools: Iterable[Tool]) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self._tools:
                raise ValueError(f"tool name {tool.name!r} is taken twice")
            self._tools[tool.name] = tool

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tools)

    def __len__(self) -> int:
        return len(self._tools)

    def tool(self, name: str) -> Tool:
        """The tool called ``name``; an ``InputError`` listing the panel otherwise."""
        try:
            return self._tools[name]
        except KeyError:
            raise InputError(f"unknown tool {name!r}; the tools are {', '.join(self)}") from None

    def origin(self, name: str) -> str:
        """Where tool ``name`` comes from (:data:`ORIGINS`)."""
        return origin_of(self.tool(name))

    def named(self, origin: str) -> tuple[str, ...]:
        """The names of the tools from ``origin``."""
        return tuple(name for name, tool in self.items() if origin_of(tool) == origin)

    def runnable(self) -> tuple[str, ...]:
        """Tools run here by the ``assoc`` rule: the registry's and the config's."""
        return tuple(name for name, tool in self.items() if origin_of(tool) != "imported")

    def peers(self) -> tuple[str, ...]:
        """Every tool but the reference (ours)."""
        return tuple(name for name in self if name != registry.REFERENCE)

    def statistics_of(self, name: str) -> tuple[str, ...]:
        """The p-value columns tool ``name`` fills."""
        return self.tool(name).statistics

    def reference_mode(self, tool: str, mode: str) -> str | None:
        """The mode of ours a run of ``tool`` in ``mode`` is compared with across modes, or
        ``None`` (also for a tool the panel does not know)."""
        entry = self._tools.get(tool)
        return None if entry is None else entry.reference_modes.get(mode)

    def is_exact(self, tool: str, mode: str) -> bool:
        """Whether ``tool``'s runs in ``mode`` are judged as an exact LMM's (``Tool.exact_in``:
        JAMMA's ``loco`` is not ours' model; a tool the panel does not know, e.g. in a test,
        counts as exact)."""
        entry = self._tools.get(tool)
        return entry is None or entry.exact_in(mode)

    def reference_statistic(self, tool: str, statistic: str) -> str | None:
        """The statistic of another tool ``tool``'s ``statistic`` is compared with when that
        one lacks it (``Tool.reference_statistics``: ours' ``p_wald`` for a ``p_bolt_mix`` of
        BOLT-LMM, of a config-defined BOLT-LMM or of an imported BOLT-LMM table), or ``None``."""
        entry = self._tools.get(tool)
        return None if entry is None else entry.reference_statistics.get(statistic)

    def kinds(self, names: Iterable[str] | None = None) -> str:
        """``"exact: A, B; approximate: C, D (config), E (imported)"``: the labels by kind of
        the tools ``names`` (default: all; the concordance caption passes the tools that have
        runs), a tool not of the registry marked with its origin."""
        wanted = None if names is None else set(names)
        by_kind: dict[str, list[str]] = {}
        for name, tool in self.items():
            if wanted is not None and name not in wanted:
                continue
            mark = "" if origin_of(tool) == "registry" else f" ({origin_of(tool)})"
            by_kind.setdefault(tool.kind, []).append(tool.label + mark)
        return "; ".join(f"{kind}: {', '.join(labels)}" for kind, labels in by_kind.items())

    def pair_modes(self) -> tuple[str, ...]:
        """Every ``mode`` label a concordance row can have (:func:`registry.pair_modes` over
        this panel)."""
        return registry.pair_modes(self.values())

    def describe(self) -> list[dict[str, Any]]:
        """One record per tool (the report's panel table): name, label, origin, kind, modes,
        statistics, summary."""
        return [{"tool": name, "label": tool.label, "origin": origin_of(tool), "kind": tool.kind,
                 "modes": ",".join(tool.modes), "statistics": ",".join(tool.statistics),
                 "summary": tool.summary} for name, tool in self.items()]


REGISTRY = Panel(registry.TOOLS.values())
"""The registry's tools alone."""


def of(config: Mapping[str, Any]) -> Panel:
    """The panel of a (validated) config: the registry's tools, the tools its ``tools:`` define
    (:func:`lmmcompare.config_tools.tools_in_config`) and the imported ones
    (:func:`lmmcompare.imported.imported_tools`).  A config tool or an imported table that takes
    a name already in the panel is a ``ConfigError`` naming the key."""
    from lmmcompare.config_tools import tools_in_config
    from lmmcompare.imported import imported_tools
    from lmmcompare.workflow_config import ConfigError

    tools = list(registry.TOOLS.values())
    for where, tool in [*tools_in_config(config), *imported_tools(config)]:
        clash = next((t for t in tools if t.name == tool.name), None)
        if clash is not None:
            taken = ("the registry's tool" if origin_of(clash) == "registry"
                     else f"a {origin_of(clash)} tool")
            raise ConfigError(where, f"the name {tool.name!r} is taken by {taken}; give this "
                              "one another name")
        tools.append(tool)
    return Panel(tools)
