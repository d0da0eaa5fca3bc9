"""`cxrpipe versions`: a dataset root's committed versions."""

from __future__ import annotations

from .options import storage_config


def register(subparsers, store) -> None:
    """Add `versions` to the CLI's ``subparsers``."""
    p = subparsers.add_parser("versions", parents=[store],
                              help="a dataset root's committed versions: kind, counts, images added and removed")
    p.add_argument("uri", metavar="URI", help="a dataset root")
    p.set_defaults(handler=versions)


def versions(args) -> int:
    from .. import history, versions as core

    config = storage_config(args)
    numbers = history.version_numbers(args.uri, config)
    current = history.current_manifest(args.uri, config)
    if not numbers:
        print(f"{args.uri}: no versions" + (" (a dataset committed before versions: version 1)" if current else ""))
        return 0
    print(f"{'version':>8}  {'kind':<10} {'inputs':>9} {'images':>9} {'rejects':>8} {'added':>8} {'removed':>8}")
    previous = None
    for number in numbers:
        built = history.read_version(args.uri, config, number)
        images = core.image_rows(history.index_rows(args.uri, built, config), built.classes) if built.has_images else None
        added = removed = "-"
        if images is not None and previous is not None:
            totals = core.diff_images(previous, images).totals
            added, removed = totals.get("added", 0), totals.get("removed", 0)
        mark = " *" if current is not None and current.version == number else "  "
        print(f"{number:>8}{mark} {built.kind:<10} {built.inputs:>9,} {sum(built.images.values()):>9,} "
              f"{built.rejects['total']:>8,} {added:>8} {removed:>8}")
        previous = images
    print("* the current version")
    return 0