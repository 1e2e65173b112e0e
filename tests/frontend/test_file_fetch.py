"""``utils.get_file`` offline: Keras' cache names, local and file:// origins, hashes, extraction,
and the error for a remote origin that is not cached."""

import hashlib
import tarfile
import zipfile

import pytest

from theanine.frontend import utils


def test_copies_a_local_origin_into_the_cache_and_reuses_it(tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b\n1,2\n")
    cache = tmp_path / "cache"
    path = utils.get_file(origin=source.as_uri(), cache_dir=cache)
    assert path == str(cache / "datasets" / "data.csv") and open(path).read() == "a,b\n1,2\n"
    source.write_text("changed")
    assert open(utils.get_file(origin=str(source), cache_dir=cache)).read() == "a,b\n1,2\n"  # cached
    digest = hashlib.sha256(b"changed").hexdigest()
    assert open(utils.get_file("data.csv", str(source), file_hash=digest, cache_dir=cache)).read() == "changed"
    with pytest.raises(ValueError, match="md5 hash of .* is not 0000"):
        utils.get_file("other.csv", str(source), md5_hash="0000", cache_dir=cache)
    assert not (cache / "datasets" / "other.csv").exists()


def test_remote_origins_are_never_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not download; fetch https://example\.com/x\.npz and save it"):
        utils.get_file(origin="https://example.com/x.npz", cache_dir=tmp_path)
    (tmp_path / "datasets").mkdir(exist_ok=True)
    (tmp_path / "datasets" / "x.npz").write_bytes(b"cached")
    assert utils.get_file(origin="https://example.com/x.npz", cache_dir=tmp_path).endswith("x.npz")


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_extracts_archives_into_keras_folder_names(tmp_path, kind):
    member = tmp_path / "inner.txt"
    member.write_text("inside")
    archive = tmp_path / f"bundle.{'tar.gz' if kind == 'tar' else 'zip'}"
    if kind == "tar":
        with tarfile.open(archive, "w:gz") as opened:
            opened.add(member, arcname="bundle/inner.txt")
    else:
        with zipfile.ZipFile(archive, "w") as opened:
            opened.write(member, "bundle/inner.txt")
    folder = utils.get_file(archive.name, str(archive), extract=True, cache_dir=tmp_path / "cache")
    assert folder == str(tmp_path / "cache" / "datasets" / "bundle_extracted")
    assert (tmp_path / "cache" / "datasets" / "bundle_extracted" / "bundle" / "inner.txt").read_text() == "inside"
    unnamed = utils.get_file(origin=str(archive), extract=True, cache_dir=tmp_path / "cache2")
    assert unnamed == str(tmp_path / "cache2" / "datasets" / archive.name)
