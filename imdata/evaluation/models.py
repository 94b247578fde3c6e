"""Find, check and load the causal language models that ``imdata loss`` scores.

Everything a user can get wrong is checked before anything heavy loads: the model path,
its ``config.json``, its tokenizer, the device. Torch and transformers are imported only
by :func:`resolve_device` and :func:`load_model`, so ``imdata loss --help`` stays instant.

A checkpoint's fingerprint (for provenance and the store's keys) is a quick one: sha256
over ``config.json`` and, for every weight file, its name, size and first and last MiB.
Two checkpoints of one run differ there; hashing whole 13 GB files would not be quick.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imdata.choices import Device, DType
from imdata.errors import ImdataError, OptionError, TokenizerError
from imdata.labels.tokens import TokenizerInfo, load_tokenizer

_WEIGHTS = (".safetensors", ".bin", ".pt", ".pth")
_MIB = 1 << 20


class ModelError(ImdataError):
    """A model cannot be found, loaded or run."""


@dataclass(frozen=True)
class ModelSpec:
    """One ``--model``: where it is, what to call it, and its tokenizer."""

    name: str
    source: str
    local: bool
    fingerprint: str
    tokenizer: TokenizerInfo


def resolve_models(
    models: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    tokenizer: str | None = None,
) -> list[ModelSpec]:
    """Check every model and load its tokenizer (the folder's, or ``tokenizer`` for all)."""
    if not models:
        raise OptionError("name at least one model with --model PATH_OR_HUB_ID")
    if names and len(names) != len(models):
        raise OptionError(f"{len(names)} --name for {len(models)} --model; give one name per model, in order")
    shared = load_tokenizer(tokenizer) if tokenizer else None
    specs: list[ModelSpec] = []
    for i, source in enumerate(models):
        path = Path(source).expanduser()
        local = path.exists() or not _looks_like_hub_id(source)
        if local:
            _check_folder(source, path)
            tok = shared or _folder_tokenizer(source, path)
            fp = _quick_fingerprint(path)
        else:
            tok = shared or _hub_tokenizer(source)
            fp = hashlib.sha256(source.encode()).hexdigest()[:16]
        name = names[i] if names else _default_name(source, models)
        specs.append(ModelSpec(name, str(path) if local else source, local, fp, tok))
    seen = [s.name for s in specs]
    dup = next((n for n in seen if seen.count(n) > 1), None)
    if dup is not None:
        raise OptionError(f"two models are named {dup!r}; give each its own --name")
    return specs


def _looks_like_hub_id(source: str) -> bool:
    return source.count("/") == 1 and not source.startswith((".", "/", "~"))


def _check_folder(source: str, path: Path) -> None:
    if not path.exists():
        raise ModelError(
            f"--model {source}: no such folder; give the folder a checkpoint was saved to "
            "(config.json and weights) or a hub id owner/name"
        )
    if not path.is_dir():
        raise ModelError(f"--model {source}: is a file; give the checkpoint's folder (config.json and weights)")
    if not (path / "config.json").is_file():
        raise ModelError(
            f"--model {source}: no config.json in this folder; give a checkpoint saved with save_pretrained"
        )


def _folder_tokenizer(source: str, path: Path) -> TokenizerInfo:
    if not (path / "tokenizer.json").is_file():
        raise ModelError(
            f"--model {source}: no tokenizer.json in this folder (saved without its tokenizer); "
            "pass --tokenizer with the tokenizer.json the model was trained with"
        )
    try:
        return load_tokenizer(str(path))
    except TokenizerError as e:
        raise ModelError(f"--model {source}: {e}; or pass --tokenizer") from None


def _hub_tokenizer(source: str) -> TokenizerInfo:
    try:
        return load_tokenizer(source)
    except TokenizerError as e:
        raise ModelError(f"--model {source}: no such folder, and as a hub id: {e}") from None


def _default_name(source: str, models: Sequence[str]) -> str:
    base = Path(source.rstrip("/")).name or source
    same = [m for m in models if (Path(m.rstrip("/")).name or m) == base]
    return base if len(same) == 1 else source


def _quick_fingerprint(path: Path) -> str:
    h = hashlib.sha256((path / "config.json").read_bytes())
    for f in sorted(path.iterdir()):
        if f.suffix not in _WEIGHTS or not f.is_file():
            continue
        size = f.stat().st_size
        h.update(f"{f.name}\0{size}\0".encode())
        with f.open("rb") as fh:
            h.update(fh.read(_MIB))
            if size > 2 * _MIB:
                fh.seek(size - _MIB)
                h.update(fh.read(_MIB))
    return h.hexdigest()[:16]


def resolve_device(device: Device, dtype: DType) -> tuple[str, str]:
    """The device and dtype to run on: ``auto`` is CUDA when present, bf16 where it supports it.

    >>> resolve_device("cpu", "auto")  # doctest: +SKIP
    ('cpu', 'float32')
    """
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        built = "this torch has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise OptionError(f"--device cuda: CUDA is not available ({built}); use --device cpu or auto")
    dev = "cuda" if device == "cuda" or (device == "auto" and torch.cuda.is_available()) else "cpu"
    if dtype != "auto":
        return dev, dtype
    if dev == "cuda" and torch.cuda.is_bf16_supported():
        return dev, "bfloat16"
    return dev, "float32"


def load_model(spec: ModelSpec, *, device: str, dtype: str) -> Any:
    """The model in eval mode on ``device``, its vocabulary checked against its tokenizer."""
    import torch
    import transformers

    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # type: ignore[no-untyped-call, unused-ignore] # stderr is the user's; imdata reports loading itself
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            spec.source, dtype=getattr(torch, dtype), local_files_only=spec.local
        )
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"--model {spec.source}: cannot load it as a causal language model ({first[:200]})") from None
    finally:
        if bars:
            transformers.utils.logging.enable_progress_bar()  # type: ignore[no-untyped-call, unused-ignore]
    model.eval()  # type: ignore[no-untyped-call, unused-ignore]
    model.to(device)  # type: ignore[arg-type, unused-ignore]
    embedded = model.get_input_embeddings().num_embeddings
    vocab = spec.tokenizer.tokenizer.get_vocab_size(with_added_tokens=True)
    if vocab > embedded:
        raise ModelError(
            f"--model {spec.source}: its tokenizer ({spec.tokenizer.name}) has {vocab:,} tokens but the model "
            f"embeds {embedded:,}; pass --tokenizer with the tokenizer the model was trained with"
        )
    return model


def context_length(model: Any) -> int | None:
    """The longest sequence the model was built for, if its config says."""
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(model.config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


__all__ = ["ModelError", "ModelSpec", "context_length", "load_model", "resolve_device", "resolve_models"]
