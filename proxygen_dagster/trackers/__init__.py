"""Publishing clips to the studio's tracker (Kitsu, ShotGrid, ftrack, AYON): docs/trackers.md."""
