"""Forges: where pull requests live. `base` holds the `Forge` protocol and its data; `github`
talks to GitHub's REST API; `local` keeps PRs on a bare repo with records in the coordination
repo (no network); `files` turns a git diff into GitHub's changed-files items [pure].
"""
