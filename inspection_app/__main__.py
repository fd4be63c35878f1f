from inspection_app.cli import main

raise SystemExit(main())
