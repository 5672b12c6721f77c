"""zoo/files.py: up-front writability checks, one-line write errors, umask permissions, and
temporary files that a killed process leaves behind removed on the next start."""
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zoo import files

ROOT = Path(__file__).resolve().parents[1]


def dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_reasons_name_the_cause():
    for code, words in [(errno.EACCES, "permission denied"), (errno.ENOSPC, "no space left on device"),
                        (errno.ENOTDIR, "not a directory"), (errno.EROFS, "read-only file system")]:
        err = files.WriteError("/x/out.pt", files.reason(OSError(code, os.strerror(code))), code)
        assert str(err) == f"cannot write /x/out.pt: {files.REASONS[code]}" and words in str(err)
        assert isinstance(err, OSError) and err.errno == code


def test_path_under_a_file_is_refused_before_writing(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(files.WriteError, match=r"cannot write .*afile/sub/out\.pt: .*afile is a file, not a directory"):
        files.check_writable(tmp_path / "afile" / "sub" / "out.pt")
    with pytest.raises(files.WriteError, match="it is a directory"):
        files.check_writable(tmp_path)
    files.check_writable(tmp_path / "new" / "run", folder=True)
    assert (tmp_path / "new" / "run").is_dir() and list((tmp_path / "new" / "run").iterdir()) == []


@pytest.mark.parametrize("target", ["/proc/zoo-out.pt", "/sys/zoo-out.pt"])
def test_system_folders_are_refused(target):
    if not Path(target).parent.is_dir():
        pytest.skip(f"{Path(target).parent} is not mounted here")
    with pytest.raises(files.WriteError, match=rf"cannot write {target}: "):
        files.check_writable(target)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(files.WriteError, match="permission denied"):
            files.check_writable(tmp_path / "out.pt")
    finally:
        tmp_path.chmod(0o700)


def test_atomic_write_follows_the_umask_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.bin"
    old = os.umask(0o027)
    try:
        # the writer creates its file 0600, as tempfile.mkstemp and some savers do
        files.atomic_write(target, lambda tmp: os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)))
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o640

    def fails(tmp):
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(files.WriteError, match=r"cannot write .*out\.bin: no space left on device"):
        files.atomic_write(target, fails)
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"] and target.read_bytes() == b""


def test_stale_temps_of_dead_processes_are_removed(tmp_path):
    pid = dead_pid()
    stale = [tmp_path / f".checkpoint.pt.{pid}{files.TEMP_SUFFIX}", tmp_path / f".metrics.csv.tmp-{pid}"]
    live = tmp_path / f".checkpoint.pt.{os.getpid()}{files.TEMP_SUFFIX}"  # a run writing right now
    keep = [tmp_path / "checkpoint.pt", tmp_path / f".notes.{pid}.txt", live]
    for p in stale + keep:
        p.write_bytes(b"x")
    assert sorted(files.remove_stale_temps(tmp_path)) == sorted(stale)
    assert sorted(tmp_path.iterdir()) == sorted(keep)
    assert files.remove_stale_temps(tmp_path / "absent") == []


def test_kill_9_mid_write_leaves_a_temp_that_the_next_start_removes(tmp_path):
    """A real SIGKILL during a write: the old file survives, and the temp file goes at the next start."""
    target = tmp_path / "checkpoint.pt"
    target.write_bytes(b"old")
    code = ("import sys, time; from zoo import files\n"
            "def slow(tmp):\n    tmp.write_bytes(b'half'); print('writing', flush=True); time.sleep(60)\n"
            f"files.atomic_write({str(target)!r}, slow)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = [p.name for p in tmp_path.iterdir() if p.name != "checkpoint.pt"]
    assert left == [f".checkpoint.pt.{proc.pid}{files.TEMP_SUFFIX}"] and target.read_bytes() == b"old"
    assert [p.name for p in files.remove_stale_temps(tmp_path)] == left
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


FULL_DISK = """
import errno, os, sys
from pathlib import Path
from zoo import files
disk = Path(sys.argv[1])
def fill(tmp):  # fills the disk, then fails as torch.save does: a RuntimeError, not an OSError
    try:
        with open(tmp, "wb") as f:
            while True:
                f.write(b"x" * 4096)
                f.flush()
    except OSError:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")
for name, write in [("a.pt", fill), ("b.pt", lambda tmp: tmp.write_bytes(b"x" * 200_000))]:
    try:
        files.atomic_write(disk / name, write)
    except files.WriteError as e:
        print(e)
(disk / "filler").write_bytes(b"x" * 60_000)
try:
    (disk / "filler2").write_bytes(b"x" * 8192)
except OSError:
    pass
try:
    files.check_writable(disk / "c.pt")
except files.WriteError as e:
    print(e)
print(sorted(p.name for p in disk.iterdir()))
"""


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    """A real full disk: a 64 KiB tmpfs in a private mount namespace (unshare), where allowed."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = tmp_path / "full.py"
    script.write_text(FULL_DISK)
    cmd = f"mount -t tmpfs -o size=64k tmpfs {disk} && exec {sys.executable} {script} {disk}"
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", cmd], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    if proc.returncode != 0 and ("Operation not permitted" in proc.stderr or "mount" in proc.stderr):
        pytest.skip(f"no private tmpfs here: {proc.stderr.strip()}")
    assert proc.stdout.splitlines() == [f"cannot write {disk}/a.pt: no space left on device",
                                        f"cannot write {disk}/b.pt: no space left on device",
                                        f"cannot write {disk}/c.pt: no space left on device",
                                        "['filler', 'filler2']"], proc.stdout + proc.stderr
