"""Labels in and out of other tools: TRL preference JSONL, Label Studio and Argilla.

- ``trl``: the human-labelled pairs as TRL preference records (prompt / chosen / rejected message lists plus
  provenance: ``label_source``, ``labellers``, ``human``), readable by ``rlaif train``, ``rlaif judge-eval --data``
  and TRL itself. With ``include_unlabelled`` every record is written with the labels applied (the judge's
  pairs where nobody labelled, the experts' verdicts where they did): the pair set to train on.
- ``label-studio``: tasks for a Label Studio project using :data:`LABEL_STUDIO_CONFIG` (conversation, the
  judging question, two responses, Response 1 / Response 2 / Tie, an optional reason). Responses are in a fixed
  blind order per item; ``rlaif_item``, ``rlaif_order`` and ``rlaif_digest`` let :func:`import_label_studio`
  map the annotations of Label Studio's JSON export back to response ids.
- ``argilla``: flat records (one dict per item) for ``dataset.records.log(...)`` with the settings in
  docs/labelling.md; :func:`import_argilla` reads records exported with ``dataset.records.to_list()`` (flat or
  nested responses).

Imported annotations become ordinary label events (``source``, ``import_key``): re-importing the same export
adds nothing, and an annotation edited in the other tool is imported again as a newer label.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlaif.errors import RlaifError
from rlaif.label.items import Item, read_records
from rlaif.label.overrule import apply_labels
from rlaif.label.queue import sides
from rlaif.label.session import LabelSession
from rlaif.label.store import MAX_LABELLER_CHARS, label_event

FORMATS = ("trl", "label-studio", "argilla")
CHOICES = {"Response 1": 0, "Response 2": 1, "Tie": None}

LABEL_STUDIO_CONFIG = """<View>
  <Header value="$question"/>
  <Paragraphs name="conversation" value="$conversation" layout="dialogue" nameKey="role" textKey="content"/>
  <View style="display: flex; gap: 1em;">
    <View style="flex: 1;">
      <Header value="Response 1" size="5"/>
      <Text name="response_1" value="$response_1"/>
    </View>
    <View style="flex: 1;">
      <Header value="Response 2" size="5"/>
      <Text name="response_2" value="$response_2"/>
    </View>
  </View>
  <Choices name="preference" toName="response_1" choice="single-radio" required="true" showInline="true">
    <Choice value="Response 1" hotkey="1"/>
    <Choice value="Response 2" hotkey="2"/>
    <Choice value="Tie" hotkey="3"/>
  </Choices>
  <TextArea name="reason" toName="response_1" placeholder="Why? (optional)" maxSubmissions="1"/>
</View>
"""
"""The Label Studio labelling interface the exported tasks are made for (Settings -> Labeling Interface -> Code)."""

EXPORT_SIDE = "rlaif-export"
"""The 'labeller' whose blind left/right order an export uses (one fixed order per item)."""


def human_pairs(
    records: list[dict[str, Any]], events: Iterable[dict[str, Any]], include_unlabelled: bool = False
):
    """Pairs after applying the labels: only the experts' (default) or every pair (``include_unlabelled``)."""
    out = []
    for record in apply_labels(records, events):
        if record.get("status", "pair") != "pair":
            continue
        if include_unlabelled or record.get("label_source") == "human":
            out.append(record)
    return out


def export_trl(session: LabelSession, include_unlabelled: bool = False) -> list[dict[str, Any]]:
    session.sync()
    return human_pairs(read_records(session.items.target), session.store.events, include_unlabelled)


def _order(item: Item) -> tuple[str, tuple[str, str]]:
    left, right = sides(item, EXPORT_SIDE)
    return ("ab" if left.id == item.responses[0].id else "ba"), (left.text, right.text)


def _conversation_text(item: Item) -> str:
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in item.prompt)


def export_label_studio(session: LabelSession) -> list[dict[str, Any]]:
    tasks = []
    for item in session.items:
        order, (first, second) = _order(item)
        tasks.append(
            {
                "data": {
                    "conversation": [dict(m) for m in item.prompt],
                    "question": item.question or "Which response is better?",
                    "principle": item.principle_id or "",
                    "response_1": first,
                    "response_2": second,
                    "rlaif_item": item.id,
                    "rlaif_order": order,
                    "rlaif_digest": item.digest,
                }
            }
        )
    return tasks


def export_argilla(session: LabelSession) -> list[dict[str, Any]]:
    records = []
    for item in session.items:
        order, (first, second) = _order(item)
        records.append(
            {
                "id": item.id,
                "conversation": _conversation_text(item),
                "question": item.question or "Which response is better?",
                "response_1": first,
                "response_2": second,
                "principle": item.principle_id or "",
                "rlaif_order": order,
                "rlaif_digest": item.digest,
            }
        )
    return records


@dataclass
class ImportResult:
    added: int = 0
    already: int = 0
    """Annotations imported before (same annotation, same version)."""
    skipped: Counter = field(default_factory=Counter)
    """Annotations not imported, by reason."""

    def summary(self) -> str:
        parts = [f"imported {self.added} label(s)"]
        if self.already:
            parts.append(f"{self.already} already imported")
        parts += [f"{count} skipped: {why}" for why, count in self.skipped.most_common()]
        return "; ".join(parts)


def read_import_file(path: str | Path) -> list[dict[str, Any]]:
    """A JSON list (Label Studio's JSON export, Argilla ``to_json``) or JSONL of objects."""
    from rlaif.files import check_input_file, iter_jsonl, load_json

    path = check_input_file(Path(path), "export file")
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"["):
        data = load_json(path, "export file")  # Label Studio's JSON export: one JSON list
    else:  # Argilla records or any JSONL: streamed, one object per line
        data = [record for _, record in iter_jsonl(path, "export file")]
    if isinstance(data, dict):
        data = data.get("records") if isinstance(data.get("records"), list) else [data]
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise RlaifError(f"{path}: expected a list of tasks / records (JSON objects)")
    return data


def _labeller(prefix: str, who: Any) -> str:
    if isinstance(who, dict):
        who = who.get("email") or who.get("username") or who.get("id")
    name = f"{prefix}:{who if who not in (None, '') else 'unknown'}"
    return "".join(ch for ch in name if ord(ch) >= 32 and ord(ch) != 127)[:MAX_LABELLER_CHARS]


def _event_for(
    session: LabelSession,
    item_id: Any,
    order: Any,
    digest: Any,
    choice: int | None | str,
    labeller: str,
    reason: str,
    seconds: Any,
    source: str,
    key: str,
    known: set[str],
    result: ImportResult,
) -> dict[str, Any] | None:
    if key in known:
        result.already += 1
        return None
    item = session.items.get(str(item_id)) if item_id is not None else None
    if item is None:
        result.skipped["not an item of this target (no or unknown rlaif_item / id)"] += 1
        return None
    if digest != item.digest:
        result.skipped["the item changed since it was exported (digest differs)"] += 1
        return None
    if order not in ("ab", "ba"):
        result.skipped["no rlaif_order (not exported by rlaif?)"] += 1
        return None
    if choice == "invalid":
        result.skipped["no Response 1 / Response 2 / Tie answer"] += 1
        return None
    first, second = item.responses if order == "ab" else item.responses[::-1]
    chosen = None if choice is None else (first.id if choice == 0 else second.id)
    known.add(key)
    return label_event(
        item.id,
        item.digest,
        labeller,
        "tie" if chosen is None else "prefer",
        first.id,
        second.id,
        chosen=chosen,
        reason=reason,
        seconds=seconds if isinstance(seconds, int | float) and not isinstance(seconds, bool) else None,
        source=source,
        import_key=key,
    )


def _known_keys(session: LabelSession) -> set[str]:
    session.sync()
    return {e["import_key"] for e in session.store.events if isinstance(e.get("import_key"), str)}


def import_label_studio(session: LabelSession, tasks: list[dict[str, Any]]) -> ImportResult:
    """Label events from Label Studio's JSON export (tasks with ``annotations``), appended to the labels file."""
    result = ImportResult()
    known = _known_keys(session)
    events = []
    for task in tasks:
        data = task.get("data") if isinstance(task.get("data"), dict) else {}
        annotations = task.get("annotations") or task.get("completions") or []
        for annotation in annotations if isinstance(annotations, list) else []:
            if not isinstance(annotation, dict):
                continue
            if annotation.get("was_cancelled"):
                result.skipped["cancelled (skipped) in Label Studio"] += 1
                continue
            choice: int | None | str = "invalid"
            reason = ""
            for entry in annotation.get("result") or []:
                value = entry.get("value") if isinstance(entry, dict) else None
                if not isinstance(value, dict):
                    continue
                picked = value.get("choices")
                if isinstance(picked, list) and picked and picked[0] in CHOICES:
                    choice = CHOICES[picked[0]]
                elif value.get("selected") in ("left", "right"):  # the Pairwise template
                    choice = 0 if value["selected"] == "left" else 1
                elif isinstance(value.get("text"), list):
                    reason = "\n".join(str(t) for t in value["text"])
            key = (
                f"label-studio:{task.get('id')}:{annotation.get('id')}:"
                f"{annotation.get('updated_at') or annotation.get('created_at') or ''}"
            )
            event = _event_for(
                session,
                data.get("rlaif_item"),
                data.get("rlaif_order"),
                data.get("rlaif_digest"),
                choice,
                _labeller("label-studio", annotation.get("completed_by")),
                reason,
                annotation.get("lead_time"),
                "label-studio",
                key,
                known,
                result,
            )
            if event is not None:
                events.append(event)
    session.store.append(events)
    result.added = len(events)
    return result


def _argilla_responses(record: dict[str, Any], question: str) -> list[dict[str, Any]]:
    """``[{value, user_id, status}]`` from a flat (``q.responses``...) or nested (``responses: {q: [...]}``) record."""
    nested = record.get("responses")
    if isinstance(nested, dict) and isinstance(nested.get(question), list):
        return [r for r in nested[question] if isinstance(r, dict)]
    values = record.get(f"{question}.responses")
    if not isinstance(values, list):
        return []
    users = record.get(f"{question}.responses.users") or [None] * len(values)
    statuses = record.get(f"{question}.responses.status") or ["submitted"] * len(values)
    return [
        {"value": value, "user_id": user, "status": status}
        for value, user, status in zip(values, users, statuses, strict=False)
    ]


def import_argilla(session: LabelSession, records: list[dict[str, Any]]) -> ImportResult:
    """Label events from Argilla records (question ``preference``: response_1 / response_2 / tie; ``reason``)."""
    result = ImportResult()
    known = _known_keys(session)
    events = []
    mapping = {"response_1": 0, "response_2": 1, "tie": None}
    for record in records:
        metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
        fields = record.get("fields") if isinstance(record.get("fields"), dict) else {}

        def get(key: str, record: dict[str, Any] = record, metadata=metadata, fields=fields) -> Any:
            return record.get(key, metadata.get(key, fields.get(key)))

        reasons = {r.get("user_id"): str(r.get("value") or "") for r in _argilla_responses(record, "reason")}
        for response in _argilla_responses(record, "preference"):
            if response.get("status", "submitted") != "submitted":
                result.skipped[f"response status {response.get('status')!r} (only submitted ones count)"] += 1
                continue
            value = response.get("value")
            choice = mapping.get(value, "invalid") if isinstance(value, str) else "invalid"
            user = response.get("user_id")
            event = _event_for(
                session,
                get("id"),
                get("rlaif_order"),
                get("rlaif_digest"),
                choice,
                _labeller("argilla", user),
                reasons.get(user, ""),
                None,
                "argilla",
                f"argilla:{get('id')}:{user}:{value}:{reasons.get(user, '')}",
                known,
                result,
            )
            if event is not None:
                events.append(event)
    session.store.append(events)
    result.added = len(events)
    return result


def detect_format(rows: list[dict[str, Any]]) -> str:
    """``label-studio`` (tasks with data/annotations) or ``argilla`` (records with responses)."""
    for row in rows:
        if (
            "annotations" in row
            or "completions" in row
            or ("data" in row and "rlaif_item" in row.get("data", {}))
        ):
            return "label-studio"
        if "responses" in row or any(key.startswith("preference.") for key in row):
            return "argilla"
    raise RlaifError(
        "cannot tell the export's format: expected Label Studio tasks (with 'annotations') or Argilla records "
        "(with 'preference' responses); pass --format"
    )
