#!/usr/bin/env python3
"""Turn automatic replies (out of office) on now, on a schedule, or off.

Eval solution until scripts/oof.py exists. GetUserOofSettings / SetUserOofSettings.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import ews_cli  # noqa: E402
import ews_config  # noqa: E402


def main(argv=None):
    parser = ews_cli.parser(__doc__.splitlines()[0])
    parser.add_argument("--on", action="store_true", help="on now, until turned off")
    parser.add_argument("--off", action="store_true")
    parser.add_argument("--start", help="scheduled from (in EWS_TIMEZONE)")
    parser.add_argument("--end")
    parser.add_argument("--message", default="")
    parser.add_argument("--external", choices=["none", "known", "all"], default="all")
    args = ews_cli.parse_args(parser, argv)
    with ews_config.connect(args) as ews:
        from exchangelib.settings import OofSettings
        account = ews.account()
        state = "Disabled" if args.off else "Scheduled" if args.start else "Enabled"
        settings = OofSettings(state=state, internal_reply=args.message, external_reply=args.message,
                               external_audience=args.external.capitalize())
        if args.start:  # exchangelib sends them in UTC; the end must be in the future
            settings.start = ews_cli.parse_when(args.start, "--start")
            settings.end = ews_cli.parse_when(args.end, "--end")
        account.oof_settings = settings
    print(f"automatic replies: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
