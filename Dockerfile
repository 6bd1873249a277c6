# The image for web, worker and beat in docker-compose.yml.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_DEBUG=false DJANGO_SECRET_KEY=collectstatic-only-not-a-secret-000000 DJANGO_ALLOWED_HOSTS=build \
    python manage.py collectstatic --noinput
USER nobody
EXPOSE 8000
