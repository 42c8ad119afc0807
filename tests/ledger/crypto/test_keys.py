"""The ledger's keys: loading makes nothing, creating names what cannot be made, signatures are RFC 8032 Ed25519."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.crypto.keys import KEY_FILES, LocalKeys, SigningKey, verify_signature
from ledger.errors import ConfigurationError, NotFound, ValidationFailed


def test_loading_a_folder_without_keys_names_it_and_makes_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(NotFound, match=re.escape(f"{missing / 'keys'} holds no ledger keys")):
        LocalKeys.load(missing)
    assert not missing.exists()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "ledger.ed25519").write_bytes(bytes(32))
    with pytest.raises(NotFound, match=r"\(token\.ed25519, master\.key missing\)"):
        LocalKeys.load(tmp_path)
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["ledger.ed25519"]


def test_loading_reads_what_creating_made(tmp_path: Path) -> None:
    made = LocalKeys.load_or_create(tmp_path)
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == sorted(KEY_FILES)
    assert all((tmp_path / "keys" / name).stat().st_mode & 0o077 == 0 for name in KEY_FILES)
    loaded = LocalKeys.load(tmp_path)
    assert (loaded.ledger.public_key, loaded.token.public_key, loaded.master_key) == \
        (made.ledger.public_key, made.token.public_key, made.master_key)


def test_a_key_file_of_the_wrong_length_is_refused(tmp_path: Path) -> None:
    LocalKeys.load_or_create(tmp_path)
    (tmp_path / "keys" / "master.key").write_bytes(bytes(31))
    for load in (LocalKeys.load, LocalKeys.load_or_create):
        with pytest.raises(ValidationFailed, match=r"master\.key holds 31 bytes, expected 32"):
            load(tmp_path)


def test_keys_that_cannot_be_made_name_the_path(tmp_path: Path) -> None:
    a_file = tmp_path / "data"
    a_file.write_text("a file, not a folder")
    with pytest.raises(ConfigurationError, match=re.escape(f"cannot create the key file {a_file / 'keys'}")) as info:
        LocalKeys.load_or_create(a_file)
    assert "Not a directory" in info.value.message
    with pytest.raises(NotFound):  # loading never makes anything, and says nothing is there
        LocalKeys.load(a_file)
    assert a_file.read_text() == "a file, not a folder"


def test_signatures_are_rfc_8032_ed25519() -> None:
    """Signing goes through libsodium: the same deterministic signature RFC 8032 and OpenSSL give."""
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    key = SigningKey.from_seed("rfc8032-1", seed)
    assert key.public_key.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert key.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
        "d25bf5f0595bbe24655141438e7a100b")
    other = SigningKey.generate("fresh-1")
    for message in (b"", b"statement", bytes(range(256)) * 4):
        assert other.sign(message) == other.private_key.sign(message)
        verify_signature(public_key=other.public_key, signature=other.sign(message), data=message)
