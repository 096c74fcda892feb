"""Run one peer tool, ``python -m lmmcompare.runners.<tool>``, on the workflow's shared inputs.

Exit status 3 (tool not installed) or 4 (mode not supported) does not fail the job: the run is
recorded as skipped (see glue.write_skip_marker) with the tool's own one-line reason.  Any other
non-zero status fails the job; the tool's output is in the rule's log.
"""

import subprocess
import sys

from glue import run_script, strip_suffix, write_skip_marker

SKIP_STATUSES = {3: "not installed", 4: "mode not supported"}


def command(snakemake):
    """The peer's command line."""
    inputs = snakemake.input
    args = [
        sys.executable, "-m", f"lmmcompare.runners.{snakemake.params.tool}",
        "--bfile", snakemake.params.bfile,
        "--pheno", inputs.pheno,
        "--mpheno", str(snakemake.params.mpheno),
        "--kinship", inputs.kinship,
        "--snps", inputs.snplist,
        "--mode", snakemake.wildcards.mode,
        "--out", strip_suffix(snakemake.output.assoc, ".assoc.tsv"),
    ]
    if "covar" in inputs.keys():
        args += ["--covar", inputs.covar]
    return args


def main(snakemake):
    args = command(snakemake)
    print("$ " + " ".join(args), file=sys.stderr, flush=True)
    done = subprocess.run(args, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(done.stderr)
    if done.returncode in SKIP_STATUSES:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else SKIP_STATUSES[done.returncode]
        prefix = strip_suffix(snakemake.output.assoc, ".assoc.tsv")
        write_skip_marker(
            prefix, snakemake.params.tool, snakemake.wildcards.mode, reason, done.returncode
        )
        print(f"skipped ({SKIP_STATUSES[done.returncode]}): {reason}", file=sys.stderr)
    elif done.returncode != 0:
        sys.exit(f"{snakemake.params.tool} failed with exit status {done.returncode}; "
                 f"see {snakemake.log[0]}")


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
