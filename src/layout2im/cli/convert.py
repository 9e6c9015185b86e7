"""``layout2im convert-original``: the authors' trained generators as model folders."""

from __future__ import annotations

import argparse

from .options import add_path


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert-original",
        help="convert the authors' trained COCO or Visual Genome model into a model folder",
        description="Convert the generator state dict of the authors' code (zhaobozb/layout2im: "
        "the released netG_coco.pt / netG_vg.pt, or a training script's iter-N_netG.pkl; with "
        "--architecture lostgan-v2, WillSuen/LostGANs: a 128 or 256 generator, told apart by its "
        "keys) into a model folder (config.json, model.safetensors, vocab.json) for generate, "
        "serve, evaluate and (Layout2Im) train --init-from. Files are read with "
        "torch.load(weights_only=True) only. See docs/original-models.md.",
    )
    add_path(
        p,
        "generator",
        kind="file",
        hint=_where_the_weights_are,
        metavar="GENERATOR",
        help="the authors' generator state dict (.pt, .pkl or .pth)",
    )
    p.add_argument(
        "--architecture",
        default="layout2im",
        choices=("layout2im", "lostgan-v2"),
        help="whose model it is: Layout2Im (zhaobozb/layout2im, the default) or LostGAN-v2 "
        "(WillSuen/LostGANs)",
    )
    p.add_argument(
        "--dataset", required=True, choices=("coco", "vg"), help="what it was trained on"
    )
    add_path(
        p,
        "--out",
        kind="output folder",
        required=True,
        help="model folder to write (replaced if a model)",
    )
    add_path(
        p,
        "--vocab",
        kind="file",
        help="vg only: the vocab.json the original VG preprocessing wrote (or a layout2im one)",
    )
    add_path(
        p,
        "--vg-root",
        kind="folder",
        help="vg only: take the vocabulary from layout2im's preprocessing of this VG folder",
    )
    add_path(
        p,
        "--discriminators",
        kind="file",
        hint=_where_the_weights_are,
        nargs=2,
        metavar=("NETD_IMAGE", "NETD_OBJECT"),
        help="layout2im only: also convert the training script's iter-N_netD_image.pkl and "
        "iter-N_netD_object.pkl into a training checkpoint (for train --init-from)",
    )
    p.set_defaults(func=cmd_convert_original)


def _where_the_weights_are(args) -> str | None:
    """Where the authors' Layout2Im files are, for the error about a missing one."""
    if args.architecture != "layout2im":
        return None
    # conversion/ is loaded only by this command (here: its path is being checked)
    from ..conversion.convert import WHERE_THE_WEIGHTS_ARE

    return WHERE_THE_WEIGHTS_ARE


def cmd_convert_original(args) -> int:
    # conversion/ (key tables, the authors' file formats) is loaded only by this command
    from ..conversion import ConversionError, convert_lostgan, convert_original

    if args.architecture == "lostgan-v2":
        if args.discriminators:
            raise ConversionError(
                "--discriminators is for --architecture layout2im: LostGAN-v2 is converted for "
                "generation only (it cannot be trained in this library)"
            )
        result = convert_lostgan(
            args.generator, args.dataset, args.out, vocab_file=args.vocab, vg_root=args.vg_root
        )
        side = result.config.resolution
        print(f"LostGAN-v2 {side}x{side} generator (read from the file's keys)")
        _print_result(result)
        return 0
    image_d, object_d = args.discriminators or (None, None)
    result = convert_original(
        args.generator,
        args.dataset,
        args.out,
        vocab_file=args.vocab,
        vg_root=args.vg_root,
        image_discriminator_file=image_d,
        object_discriminator_file=object_d,
    )
    _print_result(result)
    return 0


def _print_result(result) -> None:
    counts = ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in result.parameters.items())
    print(f"converted in {result.seconds:.1f} s ({counts} parameters)")
    print(f"vocabulary: {len(result.vocab)} rows, {len(result.vocab.categories)} names")
    print(f"model: {result.out}")
    if result.checkpoint is not None:
        print(f"training checkpoint: {result.checkpoint} (for train --init-from {result.out})")
