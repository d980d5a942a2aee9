#!/usr/bin/python3
"""The lab VPC's client (run inside the vdlab-client namespace by lab.sh):

  client.py probe URL              one GET, 0.9 s timeout: prints `ok NODE` or
                                   `fail REASON`; exit 0 only on an answer
  client.py loop URL LOG MAX_S     every 100 ms one GET (a new connection
                                   each time, so a route change is seen at
                                   once; requests overlap while one waits for
                                   its timeout), appending `EPOCH_MS ok NODE`
                                   or `EPOCH_MS fail REASON` to LOG when it
                                   ends; EPOCH_MS is when the request was sent
                                   (lines may come out of order). Ends by
                                   itself after MAX_S seconds.
"""
import errno
import http.client
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

# Under the kernel's first SYN retransmission (1 s): a request sent during an
# outage must not be rescued by its retransmitted SYN after the VIP is back,
# which would log a success at a send time ~1 s before the recovery and cut
# one outage into two runs.
TIMEOUT_S = 0.9
PERIOD_S = 0.1


def get(url):
    """One GET: ("ok", node) or ("fail", reason). The node is the X-Node
    header, cleaned to one printable word (the answer is not trusted)."""
    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=TIMEOUT_S)
    try:
        conn.request("GET", u.path or "/", headers={"Connection": "close"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            return "fail", f"http-{r.status}"
        node = "".join(c for c in (r.getheader("X-Node") or "") if c.isalnum() or c in "-_.")[:64]
        return "ok", node or "unnamed"
    except (socket.timeout, TimeoutError):
        return "fail", "timeout"
    except ConnectionRefusedError:
        return "fail", "refused"
    except ConnectionResetError:
        return "fail", "reset"
    except OSError as e:
        if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "fail", "unreachable"
        return "fail", (errno.errorcode.get(e.errno or 0) or type(e).__name__).lower()
    except http.client.HTTPException as e:
        return "fail", type(e).__name__.lower()
    finally:
        conn.close()


def main(argv):
    if len(argv) == 3 and argv[1] == "probe":
        word, what = get(argv[2])
        print(word, what)
        return 0 if word == "ok" else 1
    if len(argv) == 5 and argv[1] == "loop":
        url, log, max_s = argv[2], argv[3], float(argv[4])
        end = time.monotonic() + max_s
        nxt = time.monotonic()
        lock = threading.Lock()
        # At most this many requests in flight (0.9 s timeout / 100 ms period).
        slots = threading.BoundedSemaphore(20)
        with open(log, "a", buffering=1) as out:

            def one(sent_ms):
                try:
                    word, what = get(url)
                    with lock:
                        out.write(f"{sent_ms} {word} {what}\n")
                finally:
                    slots.release()

            while time.monotonic() < end:
                # One request per period, each in its own thread: a request
                # stuck in its timeout does not delay the next, so the
                # interruption is seen to the period, not to the timeout.
                slots.acquire()
                threading.Thread(target=one, args=(int(time.time() * 1000),), daemon=True).start()
                nxt += PERIOD_S
                pause = nxt - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                else:
                    nxt = time.monotonic()
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
