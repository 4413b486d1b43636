"""What an expert labels: two responses to one conversation under one principle, read from a run or a dataset.

A TARGET is a run directory (every round's ``records.jsonl``), one ``records.jsonl`` / ``pairs.jsonl``, or a TRL
preference dataset (JSONL, or a directory saved with ``datasets``). Every item gets a **stable id** that does
not depend on when it was read: ``r<round>/<record id>`` for run records, the record's own ``id`` for a dataset
(else a hash of its content). A **digest** of the item's content is stored with each label, so a label made on
one version of a run is never silently applied to a regenerated one.

Run records that the judge decided (pairs) are items, and so are the drops where experts help most: ties and
low-margin drops. Drops with nothing to compare (an empty answer, a revision identical to the answer) are not.

The two responses keep their identities (``original`` / ``revision``, ``sample-<k>``, or ``chosen`` /
``rejected`` for a dataset); the page shows them as left and right only (see :mod:`rlaif.label.queue`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.records import DropReason

LABELABLE_DROPS = (DropReason.TIE.value, DropReason.LOW_MARGIN.value)
"""Drop reasons whose records are still items: the judge compared two real responses and could not decide."""
DEFAULT_QUESTION = "Which response is better?"
MAX_ITEMS = 200_000
"""A labelling session over more items than this is a mistake (point TARGET at one round or a sample)."""


@dataclass(frozen=True)
class Response:
    id: str
    """``original`` / ``revision`` (CAI), ``sample-<k>`` (best-of-n, tournament), ``chosen`` / ``rejected`` (data)."""
    text: str


@dataclass(frozen=True)
class JudgeView:
    """What the AI decided about an item, in terms of response ids (never left/right)."""

    name: str
    choice: str | None
    """The response the run made ``chosen``; None when the judge called a tie."""
    p_first: float | None
    """P(``responses[0]`` is better) as the run recorded it (after combining orders)."""
    orders: tuple[float | None, float | None] = (None, None)
    """P(``responses[0]`` better) when it was shown first, and when shown second (as the judge used them)."""
    raw_orders: tuple[float | None, float | None] = (None, None)
    """The same before any debiasing: the position-consistency check reads these."""
    disagreement: float | None = None
    """Ensembles: share of members on the minority side (0: unanimous)."""
    rationales: tuple[str, ...] = ()

    @property
    def position_consistent(self) -> bool | None:
        first, second = self.raw_orders if None not in self.raw_orders else self.orders
        if first is None or second is None:
            return None
        return _side(first) == _side(second)

    @property
    def margin(self) -> float | None:
        """|p - 0.5|: 0 is a coin flip, 0.5 is certain."""
        return None if self.p_first is None else abs(self.p_first - 0.5)

    def p_of(self, response_id: str, responses: Sequence[Response]) -> float | None:
        """P(``response_id`` is better)."""
        if self.p_first is None:
            return None
        return self.p_first if response_id == responses[0].id else 1.0 - self.p_first


@dataclass(frozen=True)
class Item:
    id: str
    index: int
    """Position in the target (file order, rounds in order): the ``file`` queue order."""
    prompt: tuple[dict[str, str], ...]
    responses: tuple[Response, Response]
    principle_id: str | None = None
    question: str | None = None
    """The principle's judging question, when the run's constitution is known."""
    status: str = "data"
    """``pair`` / ``drop`` for run records, ``data`` for a preference dataset."""
    reason: str | None = None
    """The drop reason (``tie``, ``low margin``) for a dropped run record."""
    judge: JudgeView | None = None
    file_choice: str | None = None
    """A dataset's own ``chosen`` (the response id): what the file says, not a judge."""
    critique: str | None = None
    """The CAI critique the revision answered, shown on the disagreements view."""
    source: str = ""
    """Where the item came from (file and line), for messages."""
    digest: str = ""

    def response(self, response_id: str) -> Response:
        for response in self.responses:
            if response.id == response_id:
                return response
        raise KeyError(response_id)

    def other(self, response_id: str) -> str:
        return self.responses[1].id if response_id == self.responses[0].id else self.responses[0].id

    @property
    def judged_tie(self) -> bool:
        return self.judge is not None and self.judge.choice is None


@dataclass
class ItemSet:
    """The items of one TARGET, in target order, with what could not be used and why."""

    target: Path
    items: list[Item]
    skipped: Counter = field(default_factory=Counter)
    """Records that are not items, by reason (``empty answer``, ...)."""
    warnings: list[str] = field(default_factory=list)
    kind: str = "data"
    """``run`` (a run directory), ``records`` (one run file) or ``data`` (a preference dataset)."""

    def __post_init__(self) -> None:
        self.by_id = {item.id: item for item in self.items}

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Item]:
        return iter(self.items)

    def get(self, item_id: str) -> Item | None:
        return self.by_id.get(item_id)


def _side(p: float) -> int:
    return 0 if abs(p - 0.5) <= 1e-9 else (1 if p > 0.5 else -1)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if value == value and abs(value) != float("inf") else None


def content_digest(
    prompt: Sequence[dict[str, str]], responses: Sequence[Response], principle: str | None
) -> str:
    """A short hash of what the expert saw: the conversation, the principle and both responses (with ids)."""
    payload = json.dumps(
        [list(prompt), principle, sorted([r.id, r.text] for r in responses)],
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _messages(value: Any, where: str) -> tuple[dict[str, str], ...]:
    if isinstance(value, str):
        return ({"role": "user", "content": value},)
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return tuple({"role": str(m.get("role", "user")), "content": str(m["content"])} for m in value)
    raise RlaifError(f"{where}: field 'prompt': expected a string or a list of {{role, content}} messages")


def _text(value: Any) -> str:
    """A response as text: a string, or the assistant messages of a message list."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            str(m.get("content", ""))
            for m in value
            if isinstance(m, dict) and m.get("role", "assistant") == "assistant"
        )
    return ""


def is_run_record(record: dict[str, Any]) -> bool:
    """A record written by the CAI engine (records.jsonl / pairs.jsonl) rather than a plain preference pair."""
    return "status" in record and ("original" in record or "candidates" in record)


def record_item_id(record: dict[str, Any]) -> str:
    """The stable item id of a run record: ``r<round>/<prompt id>``."""
    return f"r{record.get('round', 1)}/{record.get('id')}"


def _judge_view_revision(record: dict[str, Any]) -> JudgeView | None:
    judge = record.get("judge")
    if not isinstance(judge, dict):
        return None
    p_revision = _float(judge.get("p_revision"))
    # The judge compared a = original, b = revision: p_a_order_ab / _ba are P(original better) in each order.
    orders = (_float(judge.get("p_a_order_ab")), _float(judge.get("p_a_order_ba")))
    raw = (_float(judge.get("raw_p_a_order_ab")), _float(judge.get("raw_p_a_order_ba")))
    if record.get("status") == "pair":
        choice = str(record.get("chosen_source") or ("revision" if (p_revision or 0.5) > 0.5 else "original"))
    else:
        choice = None
    rationales = tuple(
        str(judge[k]) for k in ("rationale_ab", "rationale_ba") if isinstance(judge.get(k), str)
    )
    return JudgeView(
        name=str(judge.get("name") or judge.get("judge") or "judge"),
        choice=choice,
        p_first=None if p_revision is None else 1.0 - p_revision,
        orders=orders,
        raw_orders=raw,
        disagreement=_float(judge.get("disagreement")),
        rationales=rationales,
    )


def _item_from_revision(record: dict[str, Any], where: str) -> tuple[Item | None, str | None]:
    original, revision = record.get("original"), record.get("revision")
    if not isinstance(original, str) or not isinstance(revision, str):
        return None, "no original/revision text"
    if not original.strip() or not revision.strip():
        return None, str(record.get("reason") or "empty response")
    if original.strip() == revision.strip():
        return None, str(record.get("reason") or "revision identical to answer")
    status = str(record.get("status"))
    if status == "drop" and record.get("reason") not in LABELABLE_DROPS:
        return None, str(record.get("reason") or "drop")
    responses = (Response("original", original), Response("revision", revision))
    judge = _judge_view_revision(record)
    if judge is None:
        return None, "never judged"
    return (
        _make_item(record, where, responses, judge, critique=record.get("critique")),
        None,
    )


def _item_from_sampled(record: dict[str, Any], where: str) -> tuple[Item | None, str | None]:
    judge = record.get("judge")
    candidates = record.get("candidates")
    if not isinstance(judge, dict) or not isinstance(candidates, list):
        return None, "never judged"
    best, worst = judge.get("chosen_index"), judge.get("rejected_index")
    if not isinstance(best, int) or not isinstance(worst, int) or best == worst:
        return None, str(record.get("reason") or "no two candidates")
    if not (0 <= best < len(candidates) and 0 <= worst < len(candidates)):
        return None, "candidate index out of range"
    texts = [candidates[best], candidates[worst]]
    if not all(isinstance(t, str) and t.strip() for t in texts) or texts[0].strip() == texts[1].strip():
        return None, "candidates empty or identical"
    status = str(record.get("status"))
    if status == "drop" and record.get("reason") not in LABELABLE_DROPS:
        return None, str(record.get("reason") or "drop")
    responses = (Response(f"sample-{best}", texts[0]), Response(f"sample-{worst}", texts[1]))
    p_chosen = _float(judge.get("p_chosen"))
    match = judge.get("match") if isinstance(judge.get("match"), dict) else {}
    # A tie drop leaves no choice; a low-margin drop still records which candidate the judge preferred.
    choice = None if record.get("reason") == "tie" else responses[0].id
    view = JudgeView(
        name=str(judge.get("name") or "judge"),
        choice=choice,
        p_first=p_chosen,
        orders=(_float(match.get("p_chosen_shown_first")), _float(match.get("p_chosen_shown_second"))),
        raw_orders=(
            _float(match.get("raw_p_chosen_shown_first")),
            _float(match.get("raw_p_chosen_shown_second")),
        ),
        disagreement=_float(judge.get("disagreement")),
    )
    return _make_item(record, where, responses, view), None


def _make_item(
    record: dict[str, Any],
    where: str,
    responses: tuple[Response, Response],
    judge: JudgeView | None,
    critique: Any = None,
) -> Item:
    prompt = _messages(record.get("prompt", ""), where)
    principle = record.get("principle_id")
    principle = str(principle) if principle is not None else None
    return Item(
        id=record_item_id(record),
        index=0,
        prompt=prompt,
        responses=responses,
        principle_id=principle,
        status=str(record.get("status")),
        reason=record.get("reason") if record.get("status") == "drop" else None,
        judge=judge,
        critique=critique if isinstance(critique, str) else None,
        source=where,
        digest=content_digest(prompt, responses, principle),
    )


def item_from_run_record(record: dict[str, Any], where: str = "record") -> tuple[Item | None, str | None]:
    """The item a run record makes, or ``(None, why not)``. Pure: the overrule step calls it on records."""
    if "candidates" in record:
        return _item_from_sampled(record, where)
    return _item_from_revision(record, where)


def item_from_pair(record: dict[str, Any], where: str, default_id: str | None = None) -> Item:
    """An item from a TRL preference record (explicit or implicit prompt; strings or message lists)."""
    from rlaif.judges.data import pair_from_record

    pair = pair_from_record(record, where, default_id or "")
    if not pair.chosen.strip() or not pair.rejected.strip():
        raise NotAnItem("an empty response")
    if pair.chosen.strip() == pair.rejected.strip():
        raise NotAnItem("identical responses")
    prompt = tuple({"role": m["role"], "content": m["content"]} for m in pair.prompt)
    responses = (Response("chosen", pair.chosen), Response("rejected", pair.rejected))
    principle = record.get("principle_id")
    principle = str(principle) if isinstance(principle, str | int) else None
    digest = content_digest(prompt, responses, principle)
    item_id = record.get("id")
    return Item(
        id=str(item_id) if isinstance(item_id, str | int) and str(item_id).strip() else f"h-{digest[:12]}",
        index=0,
        prompt=prompt,
        responses=responses,
        principle_id=principle,
        status="data",
        file_choice="chosen",
        source=where,
        digest=digest,
    )


class NotAnItem(Exception):
    """A well-formed record that has nothing to compare (skipped with its reason, not an error)."""


def unique_ids(items: Iterable[Item]) -> Iterator[Item]:
    """Items with ids made unique in order (a repeated id gets ``#2``, ``#3``...) and ``index`` set."""
    seen: Counter = Counter()
    for index, item in enumerate(items):
        seen[item.id] += 1
        item_id = item.id if seen[item.id] == 1 else f"{item.id}#{seen[item.id]}"
        yield _replace(item, id=item_id, index=index)


def _finish(target: Path, raw: Iterable[Item], kind: str, skipped: Counter, warnings: list[str]) -> ItemSet:
    items = list(unique_ids(raw))
    if len(items) > MAX_ITEMS:
        raise RlaifError(
            f"{target}: {len(items):,} items, more than {MAX_ITEMS:,}; label one round or a sample"
        )
    repeated = sorted({item.id.split("#")[0] for item in items if "#" in item.id})
    if repeated:
        warnings.append(
            f"{len(repeated)} id(s) appear more than once (e.g. '{repeated[0]}'); later copies are labelled "
            "as '<id>#2', '<id>#3', ..."
        )
    return ItemSet(target=target, items=items, skipped=skipped, warnings=warnings, kind=kind)


def _replace(item: Item, **changes: Any) -> Item:
    from dataclasses import replace

    return replace(item, **changes)


def _with_questions(items: Iterable[Item], questions: dict[str, str], default: str | None) -> Iterator[Item]:
    for item in items:
        question = questions.get(item.principle_id or "") or default
        yield _replace(item, question=question) if question else item


def _run_questions(run_dir: Path | None) -> dict[str, str]:
    """Principle id -> judging question from a run's saved constitution (empty if there is none to read)."""
    if run_dir is None or not (run_dir / "constitution.yaml").is_file():
        return {}
    from rlaif.constitution import constitution_from_dict
    from rlaif.files import load_yaml_mapping

    try:
        constitution = constitution_from_dict(
            load_yaml_mapping(run_dir / "constitution.yaml", "constitution"),
            str(run_dir / "constitution.yaml"),
        )
    except RlaifError:
        return {}
    return {p.id: p.judging_question for p in constitution.principles}


def _records_items(
    path: Path, lines: Iterable[tuple[int, dict[str, Any]]], skipped: Counter, unit: str = "line"
) -> Iterator[Item]:
    for number, record in lines:
        where = f"{path}: {unit} {number}"
        if is_run_record(record):
            item, why = item_from_run_record(record, where)
            if item is None:
                skipped[why or "not labelable"] += 1
                continue
            yield item
        else:
            try:
                yield item_from_pair(record, where, f"line-{number}")
            except NotAnItem as exc:
                skipped[str(exc)] += 1


def _read_lines(path: Path, warnings: list[str]) -> list[tuple[int, dict[str, Any]]]:
    """``(line, record)`` pairs, streamed through the shared reader. A bad line is an error naming it, except a
    torn last line (invalid JSON, nothing after it): a run still writing its journal leaves one, so it is
    skipped with a warning."""
    from rlaif.files import iter_jsonl

    problems: list[Any] = []
    out = list(iter_jsonl(path, "labelling target", problems))
    if problems:
        last = max([number for number, _ in out] + [int(p.where.split()[-1]) for p in problems])
        for problem in problems:
            if problem.where == f"line {last}" and problem.message.startswith("invalid JSON"):
                warnings.append(
                    f"{path.name}: {problem.where} is incomplete (a write in progress?) and was skipped"
                )
            else:
                raise RlaifError(f"{path}: {problem.where}: {problem.message}")
    return out


def run_directory_of(path: Path) -> Path | None:
    """The run directory a path belongs to (itself, or the run holding a ``round-N`` file), if any."""
    path = path.resolve()
    for candidate in (path, path.parent, path.parent.parent):
        if (candidate / "manifest.json").is_file() or (
            candidate.is_dir() and any(candidate.glob("round-*/records.jsonl"))
        ):
            return candidate
    return None


def load_items(target: str | Path, question: str | None = None) -> ItemSet:
    """Every labelable item of TARGET, in target order. Bad input raises :class:`RlaifError` naming file and line."""
    target = Path(target)
    if not target.exists():
        raise RlaifError(
            f"{target}: not found; TARGET is a run directory, a records.jsonl / pairs.jsonl, or a TRL "
            "preference dataset (JSONL or a `datasets` directory)"
        )
    skipped: Counter = Counter()
    warnings: list[str] = []
    if target.is_dir() and (target / "dataset_info.json").is_file():
        items = _with_questions(_dataset_items(target, skipped), {}, question or DEFAULT_QUESTION)
        result = _finish(target, items, "data", skipped, warnings)
    elif target.is_dir():
        from rlaif.report.rundata import load_run

        run = load_run(target)
        warnings.extend(run.warnings)
        raw: list[Item] = []
        for rnd in run.rounds:
            path = target / f"round-{rnd.index}" / "records.jsonl"
            raw.extend(_records_items(path, enumerate(rnd.records, start=1), skipped, "record"))
        questions = _run_questions(target)
        result = _finish(target, _with_questions(raw, questions, question), "run", skipped, warnings)
    else:
        lines = _read_lines(target, warnings)
        raw_items = list(_records_items(target, lines, skipped))
        kind = "records" if any(item.status != "data" for item in raw_items) else "data"
        questions = _run_questions(run_directory_of(target)) if kind == "records" else {}
        default = question if kind == "records" else (question or DEFAULT_QUESTION)
        result = _finish(target, _with_questions(raw_items, questions, default), kind, skipped, warnings)
    if not result.items:
        detail = ", ".join(f"{why}: {count}" for why, count in result.skipped.most_common()) or "no records"
        raise RlaifError(f"{target}: nothing to label ({detail})")
    return result


def _dataset_items(path: Path, skipped: Counter) -> Iterator[Item]:
    try:
        from datasets import load_from_disk

        dataset = load_from_disk(str(path))
    except Exception as exc:  # datasets raises several types for "not a saved dataset"
        raise RlaifError(f"{path}: not a dataset saved with `datasets` save_to_disk ({exc})") from None
    if hasattr(dataset, "keys") and not hasattr(dataset, "column_names"):  # a DatasetDict: one split, please
        raise RlaifError(
            f"{path}: a dataset with several splits ({', '.join(dataset.keys())}); point at one split"
        )
    missing = [key for key in ("chosen", "rejected") if key not in dataset.column_names]
    if missing:
        raise RlaifError(f"{path}: the dataset has no column {', '.join(missing)} (TRL preference format)")
    for number, row in enumerate(dataset, start=1):
        try:
            yield item_from_pair(dict(row), f"{path}: row {number}", f"row-{number}")
        except NotAnItem as exc:
            skipped[str(exc)] += 1


def default_labels_path(target: str | Path) -> Path:
    """Where labels go unless ``--labels`` says otherwise: ``labels.jsonl`` in the run directory for a run (or a
    file inside one), else beside the target file."""
    target = Path(target)
    if target.is_dir():
        if (target / "dataset_info.json").is_file():
            return target.parent / "labels.jsonl"
        return target / "labels.jsonl"
    run = run_directory_of(target)
    return (run if run is not None else target.parent) / "labels.jsonl"


def read_records(target: str | Path) -> list[dict[str, Any]]:
    """Every record of TARGET as stored (run records of every round, a file's lines, a dataset's rows), in the
    order :func:`load_items` reads them: what :func:`rlaif.label.overrule.apply_labels` takes."""
    target = Path(target)
    if target.is_dir() and (target / "dataset_info.json").is_file():
        from datasets import load_from_disk

        return [dict(row) for row in load_from_disk(str(target))]
    if target.is_dir():
        from rlaif.report.rundata import load_run

        return [record for rnd in load_run(target).rounds for record in rnd.records]
    return [record for _, record in _read_lines(target, [])]
