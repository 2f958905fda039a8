"""Starts a kernel on a real Jupyter server and has it run CODE, as a notebook's cell would,
then returns once the kernel says it is busy (the cell keeps running after we hang up).

    python3 run_cell.py PORT TOKEN CODE

Standard library only: HTTP for the kernel, the WebSocket handshake and frames (RFC 6455) by
hand for its channels, one execute_request in Jupyter's message format.
"""
import base64
import http.client
import json
import os
import socket
import sys
import uuid

port, token, code = int(sys.argv[1]), sys.argv[2], sys.argv[3]
auth = {"Authorization": "token " + token}

conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
conn.request("POST", "/api/kernels", body="{}", headers={**auth, "Content-Type": "application/json"})
answer = conn.getresponse()
assert answer.status == 201, (answer.status, answer.read())
kernel = json.load(answer)["id"]

s = socket.create_connection(("127.0.0.1", port), timeout=60)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(
    (
        f"GET /api/kernels/{kernel}/channels HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\nAuthorization: token {token}\r\n\r\n"
    ).encode()
)
head = b""
while b"\r\n\r\n" not in head:
    chunk = s.recv(1)
    assert chunk, head
    head += chunk
assert b" 101 " in head.split(b"\r\n")[0], head

session = uuid.uuid4().hex
message = json.dumps(
    {
        "header": {"msg_id": uuid.uuid4().hex, "username": "test", "session": session,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {},
        "metadata": {},
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False},
        "channel": "shell",
    }
).encode()
frame = bytearray([0x81])
if len(message) < 126:
    frame.append(0x80 | len(message))
else:
    frame.append(0x80 | 126)
    frame += len(message).to_bytes(2, "big")
mask = os.urandom(4)
frame += mask
frame += bytes(b ^ mask[i % 4] for i, b in enumerate(message))
s.sendall(bytes(frame))


def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, "the server closed the channel"
        data += chunk
    return data


while True:
    b0, b1 = read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(read_exact(2), "big")
    elif n == 127:
        n = int.from_bytes(read_exact(8), "big")
    payload = read_exact(n)
    if b0 & 0x0F != 1:
        continue
    msg = json.loads(payload)
    if (msg.get("msg_type") == "status" and msg["content"].get("execution_state") == "busy"
            and msg.get("parent_header", {}).get("session") == session):
        break
s.close()
print(kernel)
