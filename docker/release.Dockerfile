# The sandbox image for an imported Agent-ValueBench release: the sandbox image plus the
# release's declared requirements (its requirements.txt).
#
# Built by `valuegym sandbox build --release RELEASE`, from wheels made on the host and with no
# network. The release's packages go into their own folder, listed in a .pth file after the
# image's own site-packages, so they add modules (dateutil, ...) without replacing the
# sandbox server's dependencies.
ARG SANDBOX_IMAGE=valuegym-sandbox:latest
FROM ${SANDBOX_IMAGE}

USER root
COPY wheels /wheels/release
RUN python3 /wheels/tools/pip.whl/pip install --no-index --no-deps --no-cache-dir \
        --disable-pip-version-check --root-user-action=ignore \
        --target /opt/valuegym/release-site /wheels/release/*.whl \
    && python3 -c "import site, sys; open(site.getsitepackages()[0] + '/zz-valuegym-release.pth', 'w').write('/opt/valuegym/release-site\n')" \
    && python3 -m compileall -q /opt/valuegym/release-site \
    && rm -rf /wheels/release
USER 10001:10001
