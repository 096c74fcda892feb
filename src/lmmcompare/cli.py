"""Command line of the harness: ``lmmcompare simulate``.

The simulator belongs to the harness (``lmmcompare.simulate``), so its command line does too;
``exactlmm`` (the LMM) knows nothing of it.  Like ``exactlmm``'s, each subcommand is an argparse
subparser ending in ``set_defaults(runner=...)``; :func:`main` parses and calls the runner.  Bad
input prints one line, ``lmmcompare: error: <problem>``, and exits with status 2; the outputs
are written atomically, so a failed run leaves none behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from exactlmm.errors import InputError
from lmmcompare import __version__

PROG = "lmmcompare"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="The lmm-compare harness.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("simulate", help="simulate PLINK genotypes and an LMM phenotype",
                       description="Simulate PLINK genotypes and an LMM phenotype with a known "
                                   "truth (lmmcompare.simulate.simulate_dataset): writes "
                                   "PREFIX.bed/.bim/.fam, PREFIX.pheno, PREFIX.covar (with "
                                   "--n-covariates) and PREFIX.truth.json.")
    p.add_argument("--out", required=True, metavar="PREFIX", help="output prefix")
    p.add_argument("--n-samples", type=int, required=True, metavar="N")
    p.add_argument("--n-snps", type=int, required=True, metavar="M")
    p.add_argument("--n-chromosomes", type=int, required=True, metavar="C")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--h2", type=float, required=True, help="total heritability, in (0, 1)")
    p.add_argument("--n-causal", type=int, required=True)
    p.add_argument("--causal-h2", type=float, required=True,
                   help="variance explained by the causal SNPs, in [0, h2)")
    p.add_argument("--n-populations", type=int, default=1)
    p.add_argument("--fst", type=float, default=0.0)
    p.add_argument("--sib-fraction", type=float, default=0.0)
    p.add_argument("--missing-rate", type=float, default=0.0)
    p.add_argument("--maf-min", type=float, default=0.05)
    p.add_argument("--n-covariates", type=int, default=0)
    p.add_argument("--intercept", type=float, default=1.0)
    p.set_defaults(runner=run_simulate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command of ``argv``; its exit status (2 for bad input, said in one line)."""
    args = build_parser().parse_args(argv)
    status = 0
    try:
        args.runner(args)
    except InputError as err:
        status = 2
        print(f"{PROG}: error: {err}", file=sys.stderr)
    return status


def run_simulate(args: argparse.Namespace) -> None:
    """``lmmcompare simulate``: :func:`lmmcompare.simulate.simulate_dataset` with the flags."""
    from lmmcompare.simulate import simulate_dataset

    arguments = {k: v for k, v in vars(args).items() if k not in ("command", "runner", "out")}
    truth = simulate_dataset(args.out, **arguments)
    print(f"{PROG}: simulated {args.n_samples} samples x {args.n_snps} SNPs, true γ = "
          f"{truth['gamma']:.6g} -> {args.out}.bed/.bim/.fam/.pheno/.truth.json", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
