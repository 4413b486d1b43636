"""``rlaif label``: serve the labelling page, and ``stats`` / ``export`` / ``import`` for its labels."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rlaif.errors import RlaifError


class _LabelGroup(click.Group):
    """``rlaif label TARGET`` means ``rlaif label serve TARGET``: anything that is not a subcommand is served."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_LabelGroup, invoke_without_command=False)
def label() -> None:
    """Experts in the loop: label pairs in a local web page; measure, calibrate and overrule the judge.

    \b
    rlaif label TARGET              serve the page (same as `rlaif label serve TARGET`)
    rlaif label stats TARGET        counts, agreement between labellers, judge vs experts
    rlaif label export TARGET ...   TRL pairs, Label Studio tasks or Argilla records
    rlaif label import TARGET FILE  labels from a Label Studio JSON export (or Argilla records)

    \b
    TARGET is a run directory (every round's records), a records.jsonl / pairs.jsonl, or a TRL preference
    dataset (JSONL, or a `datasets` directory). Labels go to TARGET/labels.jsonl for a run (beside the file
    otherwise; --labels to choose), one event per line, saved to disk before the page says "saved".

    \b
    Then:
      rlaif judge-eval --labels runs/default/labels.jsonl     the judge measured against your experts
      rlaif judge fit-ensemble --labels ... --member ...      an ensemble fitted to them
      rlaif label export runs/default --format trl --include-unlabelled -o pairs.jsonl
                                                             the pairs with the experts' verdicts applied
    """


def _labels_and_target(target: str, labels: str | None) -> tuple[Path, Path]:
    from rlaif.label.session import resolve_labels

    if labels is not None:
        return Path(labels), Path(target)
    return resolve_labels(target)


@label.command("serve")
@click.argument("target", type=click.Path())
@click.option("--labels", type=click.Path(dir_okay=False), help="Labels file (default: TARGET/labels.jsonl).")
@click.option("--labeller", help="Your name, recorded with every label (default: the page asks once).")
@click.option(
    "--order",
    type=click.Choice(["uncertain", "random", "file"]),
    default="uncertain",
    show_default=True,
    help="uncertain: judged ties, position-inconsistent and split-ensemble items first, then by |p - 0.5|.",
)
@click.option(
    "--overlap",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Show each item to K labellers (2+ gives agreement between experts, Cohen's kappa).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="For the random order and its tie-breaks."
)
@click.option(
    "--question", help="The judging question shown for items without a principle (plain preference files)."
)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Bind address; non-loopback needs a token."
)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port (default: a free one).")
@click.option("--token", help="Access token (default: a random one, printed in the URL).")
@click.option("--no-token", is_flag=True, help="No access token (loopback only; refused on other hosts).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser; just print the URL.")
def serve(
    target: str,
    labels: str | None,
    labeller: str | None,
    order: str,
    overlap: int,
    seed: int,
    question: str | None,
    host: str,
    port: int,
    token: str | None,
    no_token: bool,
    no_browser: bool,
) -> None:
    """Serve a labelling page for TARGET on 127.0.0.1 and print its URL.

    Each item shows the conversation, the principle's judging question and two responses side by side, blind
    (sides are shuffled per item and labeller; nothing says which is the original, the revision or the AI's
    choice). After each verdict the page shows the judge's verdict on that item, never before.

    \b
    Keys: 1 left better, 2 right better, 3 tie / can't tell, s skip, u undo, r type a reason (Esc leaves it).

    \b
    Examples:
      rlaif label runs/default
      rlaif label runs/default --labeller ana --overlap 2
      rlaif label data/pairs.jsonl --order random --question "Which answer is more accurate?"
      rlaif label runs/default --host 0.0.0.0        (a token is made and printed; share the URL)
    """
    from rlaif.label.server import serve as serve_app
    from rlaif.label.session import open_session

    if token and no_token:
        raise RlaifError("--token and --no-token exclude each other")
    session = open_session(target, labels, question=question)
    serve_app(
        session,
        host=host,
        port=port,
        token=False if no_token else (token or True),
        open_browser=not no_browser,
        echo=lambda message: click.echo(message, err=False),
        order=order,
        overlap=overlap,
        seed=seed,
        labeller=labeller,
    )


@label.command("stats")
@click.argument("target", type=click.Path())
@click.option("--labels", type=click.Path(dir_okay=False), help="Labels file (default: TARGET/labels.jsonl).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def stats(target: str, labels: str | None, as_json: bool) -> None:
    """Per-labeller counts, agreement between labellers (Cohen's kappa), judge vs experts (95% intervals).

    TARGET may also be a labels.jsonl (its target is read from the file).

    \b
    Example:
      rlaif label stats runs/default
    """
    from rlaif.label.session import open_session
    from rlaif.label.stats import format_stats, label_stats

    labels_path, target_path = _labels_and_target(target, labels)
    session = open_session(target_path, labels_path, require_labels=True)
    result = label_stats(session.state, session.items.items)
    if as_json:
        click.echo(json.dumps(result.as_dict()))
        return
    click.echo(f"labels: {labels_path}   target: {target_path}")
    click.echo(format_stats(result))


@label.command("export")
@click.argument("target", type=click.Path())
@click.option("--labels", type=click.Path(dir_okay=False), help="Labels file (default: TARGET/labels.jsonl).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["trl", "label-studio", "argilla"]),
    required=True,
    help="What to write.",
)
@click.option(
    "--output", "-o", required=True, type=click.Path(dir_okay=False, writable=True), help="Where to write."
)
@click.option(
    "--include-unlabelled",
    is_flag=True,
    help="trl: every pair with the labels applied (the judge's where nobody labelled), not only the experts'.",
)
def export(target: str, labels: str | None, fmt: str, output: str, include_unlabelled: bool) -> None:
    """Write labels or items for other tools.

    \b
    trl           the experts' pairs as TRL preference JSONL with provenance (label_source, labellers);
                  with --include-unlabelled, every pair with the experts' verdicts applied: train on it with
                  `rlaif train OUTPUT`
    label-studio  tasks JSON for a Label Studio project (its labelling config is written to OUTPUT.xml);
                  label there, export JSON, then `rlaif label import TARGET export.json`
    argilla       records JSONL for an Argilla dataset (settings in docs/labelling.md)
    """
    from rlaif.files import atomic_write_text, write_jsonl
    from rlaif.label import interop
    from rlaif.label.session import open_session

    if fmt == "trl":
        labels_path, target_path = _labels_and_target(target, labels)
        session = open_session(target_path, labels_path, require_labels=True)
        rows = interop.export_trl(session, include_unlabelled=include_unlabelled)
        write_jsonl(output, rows)
        click.echo(f"wrote {len(rows)} pair(s) to {output}")
        return
    session = open_session(target, labels)
    if fmt == "label-studio":
        tasks = interop.export_label_studio(session)
        atomic_write_text(output, json.dumps(tasks, ensure_ascii=False, indent=1) + "\n")
        config = Path(output).with_suffix(".xml")
        atomic_write_text(config, interop.LABEL_STUDIO_CONFIG)
        click.echo(f"wrote {len(tasks)} task(s) to {output}; labelling config: {config}")
    else:
        records = interop.export_argilla(session)
        write_jsonl(output, records)
        click.echo(f"wrote {len(records)} record(s) to {output}")


@label.command("import")
@click.argument("target", type=click.Path())
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--labels", type=click.Path(dir_okay=False), help="Labels file (default: TARGET/labels.jsonl).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "label-studio", "argilla"]),
    default="auto",
    show_default=True,
    help="The export's format.",
)
def import_command(target: str, file: str, labels: str | None, fmt: str) -> None:
    """Add the annotations in FILE (Label Studio JSON export, or Argilla records) to TARGET's labels.

    Only tasks exported by `rlaif label export` map back to items. Importing the same file twice adds nothing;
    an annotation edited since is imported again and replaces the earlier one.

    \b
    Example:
      rlaif label export runs/default --format label-studio -o tasks.json
      (label in Label Studio, Export -> JSON)
      rlaif label import runs/default project-1-at-2025-01-01.json
    """
    from rlaif.label import interop
    from rlaif.label.session import open_session

    session = open_session(target, labels)  # the target and labels first: they are what the import changes
    rows = interop.read_import_file(file)
    try:
        kind = interop.detect_format(rows) if fmt == "auto" else fmt
    except RlaifError as error:
        raise RlaifError(f"{file}: {error.message}", error.problems, error.hint) from None
    if kind == "label-studio":
        result = interop.import_label_studio(session, rows)
    else:
        result = interop.import_argilla(session, rows)
    if result.added:
        session.record_session(imported_from=kind)
    click.echo(f"{file}: {result.summary()}; labels: {session.labels_path}")
