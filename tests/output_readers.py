"""Reading what a running weir writes: a file it is still appending to, and a
FIFO sink drained slowly (so that the sink fills and the source waits)."""
import os
import threading
import time


def whole_lines(path):
    """path's complete lines, read in one pass; [] when it cannot be opened.

    The line still being written (no newline yet) is left out, and nothing is
    read after it. Iterating the file instead (`for line in f`) returns that
    line's beginning at the end of the file and, when the file grows before the
    next read, its rest as a line of its own: '"alert":false}' came out as a
    line and failed json.loads (test_reload_kafka E, in CI at stop 27)."""
    try:
        with open(path) as f:
            data = f.read()
    except OSError:
        return []
    return data[: data.rfind("\n") + 1].splitlines()


def slow_fifo_reader(path, got, fast=None, done=None, stall=None):
    """A started thread that reads the FIFO at path into got (a bytearray),
    512 bytes at a time with a 2 ms pause after each (about 250 KB/s) until
    fast (an Event) is set, up to the writer's end; then it sets done. While
    stall (an Event) is set it reads nothing."""
    def read():
        fd = os.open(path, os.O_RDONLY)
        while True:
            while stall is not None and stall.is_set():
                time.sleep(0.005)
            b = os.read(fd, 512)
            if not b:
                break
            got.extend(b)
            if fast is None or not fast.is_set():
                time.sleep(0.002)
        os.close(fd)
        if done is not None:
            done.set()
    th = threading.Thread(target=read)
    th.start()
    return th
