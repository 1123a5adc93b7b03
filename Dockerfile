# One image for web, worker and beat (docker-compose.yml picks the command).
# Pinned by digest (re-pin with `docker buildx imagetools inspect python:3.11-slim`).
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt requirements-nodeps.txt ./
# dlib comes from the prebuilt dlib-bin wheel; face_recognition is installed without its
# dependency on the dlib sdist, which would compile for a long time.
RUN pip install --no-cache-dir -r requirements.txt \
 && pip install --no-cache-dir --no-deps -r requirements-nodeps.txt

COPY . .
RUN DJANGO_DEBUG=1 REPORTIN_DATA_DIR=/tmp/build python manage.py compile_translations \
 && DJANGO_DEBUG=1 REPORTIN_DATA_DIR=/tmp/build STATIC_ROOT=/app/static python manage.py collectstatic --no-input \
 && useradd --uid 10001 --create-home reportin \
 && mkdir -p /data && chown reportin /data

USER reportin
ENV REPORTIN_DATA_DIR=/data STATIC_ROOT=/app/static
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.conf.py"]
