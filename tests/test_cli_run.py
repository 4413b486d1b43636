"""`rlaif run` / `generate` / `train` through the CLI, on the deterministic fake backend (fast)."""

import json

import yaml
from click.testing import CliRunner

from rlaif.cli import build_cli


def write_config(tmp_path, **overrides):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"question {i}"}) + "\n" for i in range(5)))
    config = {
        "plugins": ["tests.doubles"],
        "prompts": "prompts.jsonl",
        "output_dir": str(tmp_path / "run"),
        "models": {"policy": "fake:policy"},
        "train": False,
        "chunk_size": 2,
        **overrides,
    }
    path = tmp_path / "rlaif.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_generate_writes_the_run_directory(tmp_path):
    config = write_config(tmp_path)
    result = CliRunner().invoke(build_cli(), ["generate", str(config), "-q"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    manifest = json.loads((run / "manifest.json").read_text())
    counts = manifest["rounds"][0]["counts"]
    assert {k: counts[k] for k in ("prompts", "pairs", "drops")} == {"prompts": 5, "pairs": 5, "drops": {}}
    assert counts["length_gap"]["pairs"] == 5 and counts["length_gap"]["mean_chars"] is not None
    assert manifest["status"] == "complete"
    for rel in (
        "config.yaml",
        "constitution.yaml",
        manifest["rounds"][0]["pairs"],
        manifest["rounds"][0]["records"],
    ):
        assert (run / rel).exists(), rel
    pairs = [json.loads(line) for line in (run / "round-1" / "pairs.jsonl").read_text().splitlines()]
    assert {"prompt", "chosen", "rejected", "principle_id", "judge", "models", "seed", "round"} <= set(
        pairs[0]
    )
    from datasets import load_from_disk

    dataset = load_from_disk(str(run / manifest["rounds"][0]["dataset"]))
    assert dataset.num_rows == 5 and {"prompt", "chosen", "rejected"} <= set(dataset.column_names)
    assert "pairs:" in result.output and str(run) in result.output


def test_rerun_resumes_and_max_prompts_limits(tmp_path):
    config = write_config(tmp_path)
    runner = CliRunner()
    first = runner.invoke(build_cli(), ["generate", str(config), "-q", "-n", "2"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(build_cli(), ["generate", str(config), "-q"])
    assert second.exit_code == 0, second.output
    assert "2 of 5 prompts already done" in second.output
    lines = (tmp_path / "run" / "round-1" / "records.jsonl").read_text().splitlines()
    assert len(lines) == 5


def test_changed_config_refuses_to_mix_results(tmp_path):
    config = write_config(tmp_path)
    runner = CliRunner()
    assert runner.invoke(build_cli(), ["generate", str(config), "-q"]).exit_code == 0
    changed = write_config(tmp_path, seed=9)
    result = runner.invoke(build_cli(), ["generate", str(changed), "-q"])
    assert result.exit_code == 2 and "different config" in result.output and "--overwrite" in result.output
    assert runner.invoke(build_cli(), ["generate", str(changed), "-q", "--overwrite"]).exit_code == 0


def test_bad_inputs_exit_2_without_traceback(tmp_path):
    runner = CliRunner()
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("models: [\n")
    missing = runner.invoke(build_cli(), ["run", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "not found" in missing.output
    broken = runner.invoke(build_cli(), ["run", str(bad_yaml)])
    assert broken.exit_code == 2 and "invalid YAML" in broken.output and "line" in broken.output
    unknown = write_config(tmp_path, judge={"name": "nope"})
    result = runner.invoke(build_cli(), ["run", str(unknown)])
    assert result.exit_code == 2 and "unknown judge 'nope'" in result.output and "pairwise" in result.output
    for output in (missing.output, broken.output, result.output):
        assert "Traceback" not in output


def test_second_process_is_refused_by_the_lock(tmp_path):
    from filelock import FileLock

    config = write_config(tmp_path)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".lock.owner").write_text("pid 12345 on testhost")
    with FileLock(str(run_dir / ".lock")):
        import subprocess
        import sys

        proc = subprocess.run(
            [sys.executable, "-c", "from rlaif.cli import main; main()", "generate", str(config), "-q"],
            capture_output=True,
            text=True,
            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]),
        )
    assert proc.returncode == 2
    assert "in use by pid 12345 on testhost" in proc.stderr
