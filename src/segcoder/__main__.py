from segcoder.cli import main

raise SystemExit(main())
