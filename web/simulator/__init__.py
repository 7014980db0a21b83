"""The floor simulator: a whole day on the floor, driven from outside through the server's own
doors, so that a newcomer can watch the dashboard fill and a test can prove nothing is lost.

    flask --app app simulate --orders 200 --pickers 10 --packers 2      # beside `make run`

It is a *client* of a running server (``--url``, default http://127.0.0.1:5000). Nothing here
calls a domain service; every action is a request a real device or the OMS would send:

* the **OMS** (``oms.py``) pushes orders through ``POST /api/v1/orders/batch`` with the API
  key, sized from ``GET /api/v1/inventory`` so the day can ship, and tails ``GET
  /api/v1/events`` — the feed tells the simulator where every order is;
* a **supervisor** (``floor.py``) logs in with a password and plans and releases waves through
  ``POST /waves`` every few seconds;
* **handhelds** (``floor.py``) are python-socketio clients logged in by badge, running
  ``task:next`` → ``scan`` like the page does, with wrong scans, short picks (``short``) and one
  handheld that drops off the Wi-Fi, queues its scans and replays them (one of them twice);
* **pack stations** (``floor.py``) open each picked order, verify every unit by scan, close the
  carton (``/pack/open``, ``/pack/verify``, ``/pack/close``) — the server prints the label to
  the station's printer — and fetch the label the printer got;
* the **day** (``day.py``) wires them together, draws the progress bar, and at the end checks
  the outcome (``report.py``): every order shipped once, every event once in the feed and in
  order, no SSCC twice; with the server's database reachable from here (the same configuration),
  also no reservation left over and no second print job for a package (``db_checks.py``).

Picker and packer users are created (or re-badged) for the run through the admin's ``POST
/admin/users`` (``web/admin_users.py``) with fresh random badges that are never printed.
"""
