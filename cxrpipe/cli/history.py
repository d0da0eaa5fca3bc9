"""`cxrpipe versions`, `diff` and `gc`: a dataset root's committed versions."""

from __future__ import annotations

from .. import flagtypes as ft
from .options import storage_config, user_errors


def register(subparsers, store) -> None:
    """Add `versions`, `diff` and `gc` to the CLI's ``subparsers``."""
    p = subparsers.add_parser("versions", parents=[store],
                              help="a dataset root's committed versions: kind, counts, images added and removed")
    p.add_argument("uri", metavar="URI", help="a dataset root")
    p.set_defaults(handler=versions)
    p = subparsers.add_parser("diff", parents=[store],
                              help="images added, removed and relabelled between two versions, per split and class")
    p.add_argument("uri", metavar="URI", help="a preprocess or run dataset root")
    p.add_argument("--from", dest="old", type=ft.VERSION, required=True, metavar="N", help=f"the older version {ft.VERSION}")
    p.add_argument("--to", dest="new", type=ft.VERSION, default=None, metavar="M",
                   help=f"the newer version (default: the current one) {ft.VERSION}")
    p.set_defaults(handler=diff)
    p = subparsers.add_parser("gc", parents=[store],
                              help="delete the files no kept version lists, and the dropped versions' manifests")
    p.add_argument("uri", metavar="URI", help="a dataset root")
    p.add_argument("--keep", type=ft.COUNT, required=True, metavar="N",
                   help=f"keep the newest N versions (and the current one, always) {ft.COUNT}")
    p.add_argument("--dry-run", action="store_true", help="print what would be deleted; delete nothing")
    p.set_defaults(handler=gc)


def versions(args) -> int:
    from .. import history, versions as core
    from ..dataset import open_dataset

    config = storage_config(args)
    numbers = history.version_numbers(args.uri, config)
    current = history.current_manifest(args.uri, config)
    if not numbers:
        if current is None:  # no dataset there at all (a typo, an unfinished job): say so, exit 2
            open_dataset(args.uri, config)
        print(f"{args.uri}: no versions (a dataset committed before versions: version 1)")
        return 0
    dates = history.version_dates(args.uri, config)
    print(f"{'version':>8}  {'committed (UTC)':<16}  {'kind':<10} {'inputs':>9} {'images':>9} {'rejects':>8} "
          f"{'added':>8} {'removed':>8}  made by")
    previous = None
    for number in numbers:
        built = history.read_version(args.uri, config, number)
        images = core.image_rows(history.index_rows(args.uri, built, config), built.classes) if built.has_images else None
        added = removed = "-"
        if images is not None and previous is not None:
            totals = core.diff_images(previous, images).totals
            added, removed = totals.get("added", 0), totals.get("removed", 0)
        mark = " *" if current is not None and current.version == number else "  "
        when = dates[number].strftime("%Y-%m-%d %H:%M") if number in dates else "-"
        print(f"{number:>8}{mark} {when:<16}  {built.kind:<10} {built.inputs:>9,} {sum(built.images.values()):>9,} "
              f"{built.rejects['total']:>8,} {added:>8} {removed:>8}  {_made_by(built)}")
        previous = images
    print("* the current version")
    return 0


def _made_by(built) -> str:
    """A full job, or an update: from which version, and what it processed and carried."""
    update = built.parameters.get("update")
    if not update:
        return "a full job"
    return (f"--update of {update['from_version']}: {update['processed']:,} processed, "
            f"{update['carried']:,} carried")


def diff(args) -> int:
    from .. import history, versions as core

    config = storage_config(args)
    old, new = (history.read_version(args.uri, config, n) for n in (args.old, args.new))
    images = [user_errors(lambda b=b: core.image_rows(history.index_rows(args.uri, b, config), b.classes))
              for b in (old, new)]
    change = core.diff_images(*images)
    print(f"{args.uri}: version {old.version} -> {new.version}: " + ", ".join(
        f"{change.totals.get(k, 0):,} images {k}" for k in ("added", "removed", "relabelled")))
    rows = core.diff_table(change)
    if rows:
        print(f"\n{'split':<8} {'class':<22} {'added':>8} {'removed':>8} {'relabelled':>10}")
    for split, cls, added, removed, relabelled in rows:
        print(f"{split:<8} {cls:<22} {added:>8,} {removed:>8,} {relabelled:>10,}")
    return 0


def gc(args) -> int:
    from .. import history, storage, versions as core
    from ..errors import UserError
    from ..spark.lease import hold_output

    config = storage_config(args)
    current = history.current_manifest(args.uri, config)
    if current is None:
        raise UserError(f"{args.uri} has no current version (no readable _MANIFEST.json): gc keeps nothing it "
                        "cannot name; finish or rerun the job first")
    # The lease: no job may write (and so list new files) while gc decides what nothing lists.
    with hold_output(args.uri, "gc", config):
        numbers = history.version_numbers(args.uri, config)
        kept, dropped = user_errors(lambda: core.kept_versions(numbers, current.version, args.keep))
        listed = history.listed_files(args.uri, current, config)
        for number in kept:
            if number != current.version:
                listed |= history.listed_files(args.uri, history.read_version(args.uri, config, number), config)
        doomed = core.gc_deletions(storage.list_keys(args.uri, config), listed, dropped)
        for key in doomed:
            if args.dry_run:
                print(f"would delete {key}")
            else:
                storage.delete(storage.join(args.uri, key), config)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"gc {args.uri}: kept versions {', '.join(map(str, kept)) or '(the current one)'}; "
          f"{verb} {len(doomed):,} file(s)" + (f", dropped versions {', '.join(map(str, dropped))}" if dropped else ""))
    return 0
