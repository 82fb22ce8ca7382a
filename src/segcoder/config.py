"""Run settings as dataclasses, read from and written to YAML.

Every field has a default and a comment; a command-line option left unset
(``None``) keeps the value from ``--config`` or, failing that, the default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from segcoder.errors import SegcoderError


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # Keras dtype policies training may use


@dataclass
class DataConfig:
    images: str | None = None  # folder of training images
    masks: str | None = None  # folder of training masks, paired with images by file stem
    val_images: str | None = None  # folder of validation images (else --val-split is used)
    val_masks: str | None = None  # folder of validation masks
    val_split: float = 0.2  # share of the training pairs held out when no validation folders are given
    classes: str | None = None  # classes.json; found from the mask values when absent
    crop_size: int = 256  # side of the random training crops, in pixels (after image_scale)
    image_scale: float = 1.0  # resize factor for images and masks in training; prediction resizes by it too
    workers: int = 2  # threads that decode and augment training batches


@dataclass
class ModelConfig:
    name: str = "unet"  # architecture: unet or autoencoder
    depth: int = 4  # number of 2x downsamplings in the encoder
    filters: int = 32  # filters of the first encoder stage; doubled at each stage
    norm: str = "batch"  # normalisation after each convolution: batch, group or none
    data_format: str | None = None  # layout inside the network; None picks the backend's fastest


@dataclass
class TrainConfig:
    epochs: int = 30  # passes over the training set
    batch_size: int = 8  # crops per training step
    steps_per_epoch: int | None = None  # None: enough crops to cover every training image about once
    learning_rate: float = 1e-3  # Adam learning rate
    loss: str = "ce+dice"  # training loss: ce, dice, focal, tversky, or a sum such as ce+dice
    seed: int = 0  # seed for splits, crops, augmentation and initial weights
    time_limit: float | None = None  # stop after this many minutes of training (the epoch in progress ends early)
    init_encoder: str | None = None  # pretrain run folder whose encoder weights start the model
    init_decoder: bool = False  # also copy the decoder (all but the output head) of the init_encoder run
    freeze_encoder_epochs: int = 0  # epochs the copied encoder stays frozen before all layers train
    precision: str = "float32"  # Keras dtype policy: float32, mixed_bfloat16 or mixed_float16 (GPU)
    lr_schedule: str = "constant"  # constant, cosine (per step, after warm-up) or plateau (halve when val mIoU stalls)
    warmup_epochs: int = 0  # linear warm-up epochs before the cosine schedule
    patience: int | None = None  # stop when val mean IoU has not improved for this many epochs
    class_weights: str | list | None = None  # None, "median-frequency", or one weight per trained class
    checkpoint_every: int | None = None  # also checkpoint every N steps (always at each epoch end)
    preview_every: int = 5  # write previews/epoch_NNN.png every N epochs (0: never)
    tensorboard: bool = False  # write TensorBoard logs to RUN/tensorboard


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, raw: dict, source: str = "config") -> "RunConfig":
        raw = raw or {}
        if not isinstance(raw, dict):
            raise SegcoderError(f"{source}: expected a mapping with sections data/model/train")
        sections = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
        unknown = set(raw) - set(sections)
        if unknown:
            raise SegcoderError(
                f"{source}: unknown section(s) {sorted(unknown)}; use only data, model and train"
            )
        built = {}
        for name, kind in sections.items():
            values = raw.get(name) or {}
            names = {f.name for f in dataclasses.fields(kind)}
            bad = set(values) - names
            if bad:
                raise SegcoderError(
                    f"{source}: unknown key(s) {sorted(bad)} in section '{name}'; "
                    f"valid keys are {sorted(names)}"
                )
            built[name] = kind(**values)
        return cls(**built)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "RunConfig":
        path = Path(path)
        if not path.is_file():
            raise SegcoderError(f"{path}: config file not found; check the --config path")
        try:
            raw = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise SegcoderError(f"{path}: not valid YAML ({exc.__class__.__name__}); fix the file") from None
        return cls.from_dict(raw, source=str(path))

    def override(self, **values) -> "RunConfig":
        """Set ``section.key`` style overrides whose value is not None, e.g. ``override(**{"train.epochs": 3})``."""
        for dotted, value in values.items():
            if value is None:
                continue
            section, key = dotted.split(".")
            setattr(getattr(self, section), key, value)
        return self

    def validate(self) -> "RunConfig":
        m, t, d = self.model, self.train, self.data
        from segcoder.models import MODEL_BUILDERS

        checks = [
            (m.name in MODEL_BUILDERS, f"--model must be one of {sorted(MODEL_BUILDERS)}, not '{m.name}'"),
            (1 <= m.depth <= 7, f"--depth must be between 1 and 7, not {m.depth}"),
            (m.filters >= 1, f"--filters must be positive, not {m.filters}"),
            (m.norm in ("batch", "group", "none"), f"--norm must be batch, group or none, not '{m.norm}'"),
            (m.data_format in (None, "channels_first", "channels_last"),
             f"model.data_format must be channels_first or channels_last, not '{m.data_format}'"),
            (t.epochs >= 1, f"--epochs must be at least 1, not {t.epochs}"),
            (t.batch_size >= 1, f"--batch-size must be at least 1, not {t.batch_size}"),
            (t.steps_per_epoch is None or t.steps_per_epoch >= 1,
             f"--steps-per-epoch must be at least 1, not {t.steps_per_epoch}"),
            (t.time_limit is None or t.time_limit > 0, f"--time-limit must be a positive number of minutes, "
                                                        f"not {t.time_limit}"),
            (d.workers >= 1, f"--workers must be at least 1, not {d.workers}"),
            (t.learning_rate > 0, f"--lr must be positive, not {t.learning_rate}"),
            (t.freeze_encoder_epochs >= 0, f"--freeze-encoder-epochs must not be negative, not {t.freeze_encoder_epochs}"),
            (t.freeze_encoder_epochs == 0 or bool(t.init_encoder), "--freeze-encoder-epochs needs --init-encoder RUN"),
            (not t.init_decoder or bool(t.init_encoder), "--init-decoder needs --init-encoder RUN"),
            (_valid_loss(t.loss), f"--loss must be terms of ce, dice, focal, tversky joined by '+', not '{t.loss}'"),
            (t.lr_schedule in ("constant", "cosine", "plateau"),
             f"--lr-schedule must be constant, cosine or plateau, not '{t.lr_schedule}'"),
            (t.warmup_epochs >= 0 and (t.warmup_epochs == 0 or t.lr_schedule == "cosine"),
             "--warmup-epochs must be >= 0 and goes with --lr-schedule cosine"),
            (t.patience is None or t.patience >= 1, f"--patience must be at least 1, not {t.patience}"),
            (t.checkpoint_every is None or t.checkpoint_every >= 1,
             f"--checkpoint-every must be at least 1, not {t.checkpoint_every}"),
            (t.preview_every >= 0, f"--preview-every must be 0 or more, not {t.preview_every}"),
            (t.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}, not '{t.precision}'"),
            (d.crop_size >= 2**m.depth and d.crop_size % 2**m.depth == 0,
             f"--crop-size must be a multiple of {2**m.depth} (2**depth), not {d.crop_size}"),
            (0.0 < d.image_scale <= 4.0, f"--image-scale must be above 0 and at most 4, not {d.image_scale}"),
            (0.0 < d.val_split < 1.0, f"--val-split must be between 0 and 1, not {d.val_split}"),
        ]
        for ok, message in checks:
            if not ok:
                raise SegcoderError(message)
        return self


def _valid_loss(spec: str) -> bool:
    from segcoder.losses import parse_loss

    try:
        parse_loss(spec)
    except ValueError:
        return False
    return True
