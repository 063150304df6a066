#!/usr/bin/python3
"""Starts a program the way systemd starts mailtoken.service from mailtoken.socket.

    daemon_socket_activate.py --socket PATH --owner USER --group GROUP --mode 0660
                              --user USER -- PROGRAM [ARGS...]

Creates the listening Unix socket PATH (a stale socket file there is
removed first; anything else in the way is an error), gives it to
USER:GROUP with the mode, then drops to --user (its primary group and no
other) and executes PROGRAM with the socket on file descriptor 3,
LISTEN_FDS=1 and LISTEN_PID set to its own PID, which PROGRAM keeps.
Runs as root. Tests use it to run the daemon as an unprivileged user with
its socket in a folder that user cannot write, as in production.
"""

import argparse
import grp
import os
import pwd
import socket
import stat
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--mode", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no program to run")

    try:
        info = os.lstat(args.socket)
        if not stat.S_ISSOCK(info.st_mode):
            sys.exit(f"daemon_socket_activate: {args.socket} exists and is not a socket")
        os.unlink(args.socket)
    except FileNotFoundError:
        pass
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(args.socket)
    os.chown(args.socket, pwd.getpwnam(args.owner).pw_uid, grp.getgrnam(args.group).gr_gid)
    os.chmod(args.socket, int(args.mode, 8))
    listener.listen(128)

    fd = listener.detach()
    if fd != 3:
        os.dup2(fd, 3)
        os.close(fd)
    os.set_inheritable(3, True)
    user = pwd.getpwnam(args.user)
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
