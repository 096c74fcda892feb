"""Write one study replicate's benchmark kit (lmmcompare.kit.write_replicate) and its part of
the manifest (every file with its sha256)."""

import sys

from glue import run_script

from lmmcompare.kit import manifest_rows, write_manifest, write_replicate


def main(snakemake):
    request = snakemake.params.request
    files = write_replicate(request["bfile"], request["pheno"], request["mpheno"],
                            request["covar"], request["kinship"], request["extract"],
                            snakemake.output.kit)
    wc = snakemake.wildcards
    rows = manifest_rows(wc.scenario, wc.replicate, snakemake.output.kit, files)
    write_manifest(rows, snakemake.output.manifest)
    print(f"{wc.scenario}/{wc.replicate}: {len(files)} files", file=sys.stderr)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
