"""The floor: many agents' plugins and the supervisors' console over Redis Streams.

`publisher` runs in each plugin (`assist demo` / `assist sip` with a `[fleet]` table): events
to Redis, supervisor commands from it. `console` runs in `assist console`: the whole floor from
Redis into the overlay's server and pages. `keys` names every key; `acl` the users per role.
See docs/fleet.md.
"""
