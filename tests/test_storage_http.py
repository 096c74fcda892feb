"""The workflow stages a gzipped PLINK dataset from an http:// URL (Snakemake's http storage
plugin), verifies each file's sha256, and stops with a one-line error naming the file on a
mismatch.  A local ``http.server`` on 127.0.0.1 stands in for the web server."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from bed_reader import to_bed

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
STAGED = [f"results/data/web/genotypes.{ext}" for ext in ("bed", "bim", "fam", "pheno")]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # no request lines on stderr
        pass


def _write_gzipped_plink(directory: Path) -> tuple[Path, dict[str, str]]:
    """Random PLINK fileset (30 samples, 50 SNPs) plus gzipped copies; returns the plain
    prefix and the sha256 of each .gz file."""
    rng = np.random.default_rng(7)
    n, m = 30, 50
    dosage = rng.binomial(2, rng.uniform(0.1, 0.9, m), size=(n, m)).astype(np.float64)
    dosage[rng.random((n, m)) < 0.02] = np.nan
    plain = directory / "plain"
    plain.mkdir()
    properties = {
        "fid": [f"f{i}" for i in range(n)],
        "iid": [f"i{i}" for i in range(n)],
        "pheno": np.round(rng.standard_normal(n), 6),
        "chromosome": ["1"] * m,
        "sid": [f"rs{j}" for j in range(m)],
        "bp_position": np.arange(1, m + 1) * 100,
    }
    to_bed(plain / "web.bed", dosage, properties=properties, count_A1=True)
    www = directory / "www"
    www.mkdir()
    sha256 = {}
    for ext in ("bed", "bim", "fam"):
        packed = gzip.compress((plain / f"web.{ext}").read_bytes(), mtime=0)
        (www / f"web.{ext}.gz").write_bytes(packed)
        sha256[ext] = hashlib.sha256(packed).hexdigest()
    return plain / "web", sha256


@pytest.fixture(scope="module")
def web_dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Serve a gzipped PLINK fileset over http://127.0.0.1:<free port>/web.*.gz."""
    root = tmp_path_factory.mktemp("web")
    plain, sha256 = _write_gzipped_plink(root)
    handler = functools.partial(_QuietHandler, directory=str(root / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "url": f"http://127.0.0.1:{server.server_address[1]}/web",
            "plain": plain,
            "sha256": sha256,
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _stage(workdir: Path, url: str, sha256: dict[str, str]) -> subprocess.CompletedProcess:
    """Run only the staging of dataset 'web' from ``url`` in ``workdir``."""
    config = {
        "datasets": {
            "web": {
                "plink": {
                    "source": url,
                    "gzipped": True,
                    "sha256": sha256,
                    "phenotype": {"file": None, "fam_column": 6},
                }
            }
        }
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run(
        [sys.executable, "-m", "snakemake", *STAGED, "--snakefile", str(REPO / "Snakefile"),
         "--directory", str(workdir), "--cores", "1"],
        capture_output=True, text=True, timeout=600,
    )


def test_stages_http_dataset_byte_for_byte(web_dataset: dict, tmp_path: Path) -> None:
    done = _stage(tmp_path, web_dataset["url"], web_dataset["sha256"])
    assert done.returncode == 0, done.stderr[-3000:]
    for ext in ("bed", "bim", "fam"):
        staged = (tmp_path / f"results/data/web/genotypes.{ext}").read_bytes()
        assert staged == Path(f"{web_dataset['plain']}.{ext}").read_bytes(), ext
    fam = Path(f"{web_dataset['plain']}.fam").read_text().split("\n")
    expected = ["FID IID pheno"] + [
        " ".join([f[0], f[1], f[5]]) for f in (line.split() for line in fam) if f
    ]
    assert (tmp_path / STAGED[3]).read_text().splitlines() == expected


def test_wrong_sha256_fails_with_one_line_naming_the_file(
    web_dataset: dict, tmp_path: Path
) -> None:
    wrong = dict(web_dataset["sha256"], bim="0" * 64)
    done = _stage(tmp_path, web_dataset["url"], wrong)
    assert done.returncode != 0
    url = f"{web_dataset['url']}.bim.gz"
    output = (done.stdout + done.stderr).splitlines()
    lines = [line for line in output if "sha256 mismatch" in line]
    assert lines == [
        f"error: {url}: sha256 mismatch: expected {'0' * 64}, "
        f"got {web_dataset['sha256']['bim']}"
    ]
    assert not (tmp_path / "results/data/web/genotypes.bim").exists()
