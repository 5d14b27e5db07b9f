"""The original tutorial app, reconstructed as the in-run baseline (single app.py).

Flask-SQLAlchemy on SQLite with its defaults, Werkzeug's default password hash
(scrypt), HTTP Basic login answering an HS256 JWT, an `x-access-tokens` guard that
queries the user by public_id on every request, GET /books returning all of the
caller's books unpaginated, POST /books. Kept as the tutorial wrote it (bare
`except`, no validation): it is the baseline, not an example.
"""

import datetime
import os
import uuid
from functools import wraps

import jwt
from flask import Flask, jsonify, make_response, request
from flask_sqlalchemy import SQLAlchemy
from werkzeug.security import check_password_hash, generate_password_hash

app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ["TUTORIAL_SECRET_KEY"]
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["TUTORIAL_DATABASE_URL"]
app.config["SQLALCHEMY_TRACK_MODIFICATIONS"] = True
db = SQLAlchemy(app)


class Users(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    public_id = db.Column(db.String(50))
    name = db.Column(db.String(50))
    password = db.Column(db.String(200))
    admin = db.Column(db.Boolean)


class Books(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(50))
    author = db.Column(db.String(50))
    publisher = db.Column(db.String(50))
    book_prize = db.Column(db.Integer)
    user_id = db.Column(db.Integer)


def token_required(f):
    @wraps(f)
    def decorator(*args, **kwargs):
        token = None
        if "x-access-tokens" in request.headers:
            token = request.headers["x-access-tokens"]
        if not token:
            return jsonify({"message": "a valid token is missing"})
        try:
            data = jwt.decode(token, app.config["SECRET_KEY"], algorithms=["HS256"])
            current_user = Users.query.filter_by(public_id=data["public_id"]).first()
        except:  # noqa: E722 - as in the tutorial
            return jsonify({"message": "token is invalid"})
        return f(current_user, *args, **kwargs)

    return decorator


@app.route("/register", methods=["POST"])
def signup_user():
    data = request.get_json()
    hashed_password = generate_password_hash(data["password"])
    new_user = Users(
        public_id=str(uuid.uuid4()),
        name=data["name"],
        password=hashed_password,
        admin=False,
    )
    db.session.add(new_user)
    db.session.commit()
    return jsonify({"message": "registered successfully"})


@app.route("/login", methods=["POST"])
def login_user():
    auth = request.authorization
    if not auth or not auth.username or not auth.password:
        return make_response(
            "could not verify",
            401,
            {"WWW.Authentication": 'Basic realm: "login required"'},
        )
    user = Users.query.filter_by(name=auth.username).first()
    if user and check_password_hash(user.password, auth.password):
        token = jwt.encode(
            {
                "public_id": user.public_id,
                "exp": datetime.datetime.utcnow() + datetime.timedelta(minutes=30),
            },
            app.config["SECRET_KEY"],
            "HS256",
        )
        return jsonify({"token": token})
    return make_response(
        "could not verify", 401, {"WWW.Authentication": 'Basic realm: "login required"'}
    )


@app.route("/books", methods=["GET"])
@token_required
def get_books(current_user):
    books = Books.query.filter_by(user_id=current_user.id).all()
    output = []
    for book in books:
        book_data = {}
        book_data["id"] = book.id
        book_data["name"] = book.name
        book_data["author"] = book.author
        book_data["publisher"] = book.publisher
        book_data["book_prize"] = book.book_prize
        output.append(book_data)
    return jsonify({"list_of_books": output})


@app.route("/books", methods=["POST"])
@token_required
def create_book(current_user):
    data = request.get_json()
    new_books = Books(
        name=data["name"],
        author=data["author"],
        publisher=data["publisher"],
        book_prize=data["book_prize"],
        user_id=current_user.id,
    )
    db.session.add(new_books)
    db.session.commit()
    return jsonify({"message": "new books created"})


def init_db() -> None:
    """Create the tables (the harness calls it once, before the workers start)."""
    with app.app_context():
        db.create_all()
