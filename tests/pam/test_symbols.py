"""pam_lockbox.so exports only the pam_sm_* hooks (dlopen + dlsym, and nm -D when present)."""

import ctypes
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lbtest  # noqa: E402

T = lbtest.Runner("pam_symbols")
mod = os.environ.get("LB_PAM_MODULE", "")
if not os.path.exists(mod):
    T.skip("pam_lockbox.so not built")

if os.environ.get("LB_SANITIZER") == "1":
    # python is not linked with the ASan runtime, so it cannot dlopen an ASan module
    T.note("sanitizer build: dlopen check skipped, nm only")
    if not shutil.which("nm"):
        T.skip("sanitizer build and no nm")
else:
    lib = ctypes.CDLL(mod, mode=os.RTLD_NOW | os.RTLD_LOCAL)
    for sym in ("pam_sm_acct_mgmt", "pam_sm_open_session", "pam_sm_close_session"):
        T.check(hasattr(lib, sym), "dlsym finds %s" % sym)
    for sym in ("lb_http_request", "lb_config_parse_file", "lb_auditlog_append",
                "lbpam_check", "lb_escape_value", "lbpam_conf_load", "lb_agent_call",
                "lb_check_answer_parse", "lb_hostconf_load", "lb_hostconf_keys"):
        T.check(not hasattr(lib, sym), "%s is not exported" % sym)

if shutil.which("nm"):
    out = subprocess.run(["nm", "-D", "--defined-only", mod], stdout=subprocess.PIPE,
                         universal_newlines=True).stdout
    names = sorted(ln.split()[-1] for ln in out.splitlines() if ln.strip()
                   and ln.split()[-2] in ("T", "D", "B", "W", "R", "V", "i"))
    T.eq([n for n in names if not n.startswith("pam_sm_")], [],
         "nm -D: no defined symbol but pam_sm_*")
    T.eq(sorted(n for n in names if n.startswith("pam_sm_")),
         ["pam_sm_acct_mgmt", "pam_sm_close_session", "pam_sm_open_session"],
         "nm -D: the three hooks are exported")
T.done()
