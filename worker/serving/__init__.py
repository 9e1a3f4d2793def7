"""The prediction server: loads jobs' TorchScript models once, keeps them in memory, answers the API over Redis.

Imports torch, never Flash: importing this package applies no Flash shims and costs a second or two, not five.
"""
