"""Moving a pretrained encoder into a segmenter, and training with it frozen for the first epochs.

Every architecture shares a sub-model named ``encoder`` built by
:func:`segcoder.models.build_encoder`, so the transfer is one ``set_weights``
once the two encoders are known to have the same shape.

Example:
    >>> model = create_model("unet", channels=1, num_classes=2, depth=4, filters=16)
    >>> copy_encoder_from_run("runs/ae", model)      # raises SegcoderError on a mismatch
"""

from __future__ import annotations

from pathlib import Path

from segcoder.errors import SegcoderError


def get_encoder(model, where: str = "the model"):
    """The ``encoder`` sub-model of ``model``."""
    from segcoder.models import ENCODER_NAME

    try:
        return model.get_layer(ENCODER_NAME)
    except ValueError:
        raise SegcoderError(f"{where} has no sub-model named '{ENCODER_NAME}'; it was not built by segcoder") from None


def describe_encoder(encoder) -> dict:
    """Input channels, depth (number of downsamplings) and first-stage filters of an encoder."""
    from keras import layers

    convs = [layer for layer in encoder.layers if isinstance(layer, layers.Conv2D)]
    return {
        "channels": int(encoder.input_shape[-1]),
        "depth": sum(isinstance(layer, layers.MaxPooling2D) for layer in encoder.layers),
        "filters": int(convs[0].filters) if convs else 0,
    }


def _fmt(d: dict) -> str:
    return f"depth {d['depth']}, filters {d['filters']}, {d['channels']} input channel(s)"


def check_encoders(src, dst, source_name: str = "the pretrained model") -> None:
    """Raise SegcoderError naming both shapes unless encoder ``src``'s weights fit encoder ``dst``.

    Depth, filters, input channels and every weight shape (e.g. another normalisation) must agree.
    """
    have, want = describe_encoder(src), describe_encoder(dst)
    if have != want:
        raise SegcoderError(
            f"{source_name}: its encoder ({_fmt(have)}) does not match this model's ({_fmt(want)}); "
            f"train with --depth {have['depth']} --filters {have['filters']} on {have['channels']}-channel images, "
            "or pretrain again with this run's settings"
        )
    if [tuple(w.shape) for w in src.weights] != [tuple(w.shape) for w in dst.weights]:
        raise SegcoderError(
            f"{source_name}: its encoder has the same depth and filters but different weights "
            "(another --norm?); pretrain again with this run's --norm"
        )


def copy_encoder(source, target, source_name: str = "the pretrained model") -> int:
    """Copy the weights of ``source``'s encoder into ``target``'s; returns the number of arrays copied."""
    src, dst = get_encoder(source, source_name), get_encoder(target, "the new model")
    check_encoders(src, dst, source_name)
    weights = src.get_weights()
    dst.set_weights(weights)
    return len(weights)


def copy_decoder(source, target, source_name: str = "the pretrained model") -> int:
    """Copy every weighted layer outside the encoder, except the output ``head``, by layer name.

    This moves a pretrained U-Net's decoder into a U-Net segmenter (the head differs: it
    emits classes, not pixels). Raises SegcoderError, changing nothing, when a layer is
    missing or has other shapes (e.g. an ``autoencoder`` pretrain, whose decoder has no skips).
    Returns the number of layers copied.
    """
    from segcoder.models import ENCODER_NAME

    pairs = []
    for layer in target.layers:
        if layer.name in (ENCODER_NAME, "head") or not layer.weights:
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError:
            src = None
        if src is None or [tuple(w.shape) for w in src.weights] != [tuple(w.shape) for w in layer.weights]:
            raise SegcoderError(
                f"{source_name}: its decoder ({source.name}) does not fit this {target.name}'s (layer '{layer.name}'); "
                f"pretrain with --model {target.name} and this run's --depth/--filters/--norm, or drop --init-decoder"
            )
        pairs.append((src, layer))
    for src, layer in pairs:
        layer.set_weights(src.get_weights())
    return len(pairs)


def load_encoder_source(run_dir: str | Path, model_config=None, channels: int | None = None):
    """Load the ``model.keras`` of ``run_dir`` (a pretrain or training run) as a source of encoder weights.

    Given the new model's settings (``ModelConfig``) and input channels, also
    check now that the encoders match, before any training starts.
    """
    import keras

    from segcoder.models import build_encoder
    from segcoder.run import MODEL_FILE

    path = Path(run_dir) / MODEL_FILE
    if not path.is_file():
        raise SegcoderError(f"{path}: not found; --init-encoder needs the folder of a finished `segcoder pretrain` run")
    try:
        source = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for broken or foreign files
        raise SegcoderError(f"{path}: not a loadable Keras model ({exc.__class__.__name__}); pretrain again") from None
    if model_config is not None:
        m = model_config
        wanted = build_encoder(channels, m.depth, m.filters, m.norm, m.data_format or "channels_last")
        check_encoders(get_encoder(source, str(run_dir)), wanted, str(run_dir))
    return source


def copy_encoder_from_run(run_dir: str | Path, target) -> int:
    """Copy the encoder of the ``model.keras`` in ``run_dir`` into ``target``'s encoder."""
    return copy_encoder(load_encoder_source(run_dir), target, str(run_dir))


def set_encoder_trainable(model, trainable: bool) -> None:
    """Freeze or unfreeze the encoder and recompile, which Keras needs for the change to take effect.

    Recompiling starts a fresh optimizer (same settings); a frozen encoder's
    batch normalisation also runs in inference mode, keeping its pretrained statistics.
    """
    get_encoder(model).trainable = trainable
    model.compile_from_config(model.get_compile_config())
