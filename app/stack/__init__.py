"""The embedded stack of `flashjobs up`: processes, the state dir's lock, the supervisor, a background stack."""
