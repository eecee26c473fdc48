"""Tests of the framework-free helpers in `yunbao.lib`."""
