"""Signed checkpoints of the audit chain's head, kept outside the database.

A checkpoint is one JSON file in ``AUDIT_CHECKPOINT_DIR``:
``checkpoint-<UTC time>-seq<seq>.json`` holding the time, the ``seq`` and hash of the
last event, the public key and an Ed25519 signature (``cryptography``) over the
canonical JSON of those four. The private key is the ``AUDIT_SIGNING_KEY`` setting
(base64 of the 32-byte private key; ``flask audit keygen`` makes one), never the
database's; the public key is derived from it.

Written by ``flask audit checkpoint`` and by the hourly ``maintenance.audit_checkpoint``
job, each only after the whole chain verified (a broken chain is never signed).
``flask audit verify`` compares the chain with the newest (by signed time): an owner or superuser
who deletes the tail and rewinds the head row, or rewrites events and hashes them
again, no longer matches what was signed. Signatures are checked against the current
key's public key and the earlier ones listed in ``AUDIT_TRUSTED_KEYS`` (a rotated key).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.errors import AtriumError
from app.services import audit_chain

_SIGNED = ("time", "seq", "hash", "public_key")


class CheckpointProblem(Exception):
    """The newest checkpoint cannot be trusted (unreadable, unsigned, foreign key)."""


def private_key(text: str) -> Ed25519PrivateKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise RuntimeError("AUDIT_SIGNING_KEY must be base64 of a 32-byte Ed25519 private key "
                           "(`flask audit keygen` makes one)")
    return Ed25519PrivateKey.from_private_bytes(raw)


def public_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def new_private_text() -> str:
    raw = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                                     serialization.NoEncryption())
    return base64.b64encode(raw).decode()


def trusted_keys(config) -> set[str]:
    """Public keys (base64) whose checkpoints verify accepts: the current signing key's and
    ``AUDIT_TRUSTED_KEYS`` (comma-separated)."""
    keys = {k.strip() for k in (config.get("AUDIT_TRUSTED_KEYS") or "").split(",") if k.strip()}
    if config.get("AUDIT_SIGNING_KEY"):
        keys.add(public_text(private_key(config["AUDIT_SIGNING_KEY"])))
    return keys


def _payload(document: dict) -> bytes:
    return json.dumps({k: document[k] for k in _SIGNED}, sort_keys=True, separators=(",", ":")).encode()


def write(config, seq: int, hash_: str | None, now: dt.datetime | None = None) -> Path:
    """Sign (``seq``, ``hash_``) with the time and write it atomically; returns the file."""
    key = private_key(config["AUDIT_SIGNING_KEY"])
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    document = {"version": 1, "time": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "seq": int(seq), "hash": hash_ or "",
                "public_key": public_text(key)}
    document["signature"] = base64.b64encode(key.sign(_payload(document))).decode()
    directory = Path(config["AUDIT_CHECKPOINT_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"checkpoint-{now:%Y%m%dT%H%M%S%fZ}-seq{int(seq)}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path


def _read(path: Path, trusted: set[str]) -> dict:
    """One checkpoint file, its signature checked; ``CheckpointProblem`` naming it otherwise."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        signature = base64.b64decode(document["signature"], validate=True)
        public = document["public_key"]
        seq = int(document["seq"])
        payload = _payload(document)
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise CheckpointProblem(f"checkpoint {path} cannot be read ({exc.__class__.__name__})") from None
    if public not in trusted:
        raise CheckpointProblem(f"checkpoint {path} is signed by a key that is neither AUDIT_SIGNING_KEY's nor "
                                "listed in AUDIT_TRUSTED_KEYS (forged checkpoint?)")
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public)).verify(signature, payload)
    except (InvalidSignature, ValueError, binascii.Error):
        raise CheckpointProblem(f"checkpoint {path}: its signature does not verify (forged or changed)") from None
    return {"seq": seq, "hash": document["hash"], "time": str(document["time"]), "file": str(path)}


def latest(config) -> dict | None:
    """The newest checkpoint by its signed time (``seq``, ``hash``, ``time``, ``file``);
    ``None`` when there is none. The newest file by name must verify (else
    ``CheckpointProblem`` naming it); older files that do not (signed with a key no longer
    trusted) are passed over, and a validly signed old checkpoint copied under a newer
    name does not hide a newer one."""
    directory = Path(config.get("AUDIT_CHECKPOINT_DIR") or "")
    files = sorted(directory.glob("checkpoint-*.json")) if directory.is_dir() else []
    if not files:
        return None
    trusted = trusted_keys(config)
    newest = _read(files[-1], trusted)
    for path in files[:-1]:
        try:
            found = _read(path, trusted)
        except CheckpointProblem:
            continue
        if (found["time"], found["seq"]) > (newest["time"], newest["seq"]):
            newest = found
    return newest


def sign_head(session, config, against_latest: bool = True) -> tuple[str, int]:
    """Verify the chain (against the newest checkpoint, unless ``against_latest`` is false:
    right after a re-key, which checked it) and sign its head: ``(file, seq)``. A chain
    that does not verify is never signed (``AtriumError`` with verify's message)."""
    previous = None
    if against_latest:
        try:
            previous = latest(config)
        except CheckpointProblem as exc:
            raise AtriumError(f"Not signing: {exc}") from None
    ok, message, _ = audit_chain.verify(session, checkpoint=previous)
    head = audit_chain.head_row(session)
    if not ok:
        raise AtriumError(f"Not signing a chain that does not verify: {message}")
    seq, hash_ = (head.seq, head.hash) if head is not None and head.seq is not None else (0, "")
    return str(write(config, seq, hash_)), seq
